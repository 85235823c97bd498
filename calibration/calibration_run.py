"""What one calibration run reports: its stages and the figures a user reads, and the trust-region radii a
multi-stage run shrinks through (the multi-stage protocol of [3] Interlayer error calibration, sec. III-C)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from calibration.calibrated import CalibratedModel

__all__ = ["CalibrationRun", "Progress", "StageReport", "radius_schedule"]

Progress = Callable[[dict], None]


def radius_schedule(stages: int, first: float = 50.0, shrink: float = 0.5, last: float = 1.0) -> list[float]:
    """Trust-region radii (in parameter scales) per stage: ``first`` * ``shrink``^s, never below ``last``."""
    return [max(first * shrink**s, last) for s in range(stages)]


@dataclass
class StageReport:
    stage: int
    slots: int  # pilots in the data this stage fitted
    seconds: float
    fit_nmse_db: float  # measured vs model on the fitted data
    heldout_nmse_db: float  # measured vs model on the held-out reference configurations
    radius: float | None
    truth: dict | None = None  # per-layer / channel NMSE when the truth is known (simulation)


@dataclass
class CalibrationRun:
    protocol: str
    reason: str
    started: float
    estimator: str
    parameterization: str
    initial_heldout_nmse_db: float  # the starting model (ideal or previous) on the test set (validation without one)
    stages: list = field(default_factory=list)
    model: CalibratedModel | None = None
    initial_truth: dict | None = None
    residual: dict | None = None  # the residual stage (calibration.residual): kept or not, and why
    test_nmse_db: float | None = None  # the kept model on the test set, which no choice saw
    chosen_stage: int | None = None  # the stage whose fit the validation set kept (default: the last)

    @property
    def validation_nmse_db(self) -> float:
        """The kept model's NMSE on the validation set (what chose it)."""
        if self.residual and self.residual["kept"]:
            return self.residual["heldout_after_db"]
        return self.stages[(self.chosen_stage or len(self.stages)) - 1].heldout_nmse_db

    @property
    def final_heldout_nmse_db(self) -> float:
        """The NMSE the calibration reports: on the test set, or on the validation set without one."""
        return self.validation_nmse_db if self.test_nmse_db is None else self.test_nmse_db

    @property
    def improvement_db(self) -> float:
        return self.initial_heldout_nmse_db - self.final_heldout_nmse_db

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("model", "stages")}
        d["stages"] = [asdict(s) for s in self.stages]
        d["model_version"] = None if self.model is None else self.model.version
        return d

    def table(self) -> str:
        """Per-stage figures as a text table."""
        has_truth = any(s.truth for s in self.stages)
        head = f"{'stage':>5} {'slots':>6} {'fit dB':>8} {'held-out dB':>12} {'seconds':>8}"
        if has_truth:
            head += f" {'layers avg dB':>14} {'channel dB':>11}"
        rows = [head]
        start = f"{0:>5} {'':>6} {'':>8} {self.initial_heldout_nmse_db:>12.2f} {'':>8}"
        if has_truth and self.initial_truth:
            start += f" {self.initial_truth['average']:>14.2f} {self.initial_truth['channel']:>11.2f}"
        rows.append(start)
        for s in self.stages:
            r = f"{s.stage:>5} {s.slots:>6} {s.fit_nmse_db:>8.2f} {s.heldout_nmse_db:>12.2f} {s.seconds:>8.2f}"
            if has_truth and s.truth:
                r += f" {s.truth['average']:>14.2f} {s.truth['channel']:>11.2f}"
            rows.append(r)
        if self.residual:
            res = self.residual
            rows.append(
                f"{'res':>5} {'':>6} {'':>8} {res['heldout_after_db']:>12.2f} {'':>8}  residual stage "
                f"{'kept' if res['kept'] else 'not kept'}: {res['reason']}"
            )
        if self.test_nmse_db is not None:
            rows.append(
                f"{'test':>5} {'':>6} {'':>8} {self.test_nmse_db:>12.2f} {'':>8}  {self.parameterization} on the "
                "test set (no choice saw it): the reported NMSE"
            )
        return "\n".join(rows)
