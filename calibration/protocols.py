"""Calibration protocols (seed 002, sec. III-C) as objects any scheduler can run.

:class:`Calibrator` holds what every protocol needs: the parameterization, a pilot source, an
estimator, the pilot design, fixed held-out reference configurations and the current calibrated
model. Its :meth:`Calibrator.calibrate` runs one calibration of S stages: stage s measures new
pilots, adds them to the data, and fits from the previous estimate inside a trust region whose
radius shrinks stage by stage (coarse, large steps first; fine, small steps later). S = 1 is the
single-stage protocol.

The protocols decide *when*: each has ``due(now)`` and ``poll()`` (runs if due) on an injectable
clock (any ``() -> seconds`` callable: ``time.monotonic``, a simulated clock, a test's counter):

``PeriodicSingleStage``  one stage at the start of every period (coherence block).
``PeriodicMultiStage``   several stages every period.
``StateDriven``          every ``check_every`` seconds, measures the reference configurations and
                         reads its indicators; recalibrates (multi-stage, from the current model)
                         when one crosses its threshold, then records new baselines.

Progress goes to an optional callback ``progress(event: dict)`` with ``event["kind"]`` in
``measure``, ``iteration`` (every evaluation inside a fit), ``stage``, ``check``, ``done``; an
exception it raises (a cancellation) ends the run where it is.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from calibration.calibrated import CalibratedModel, ModelRegistry
from calibration.codebook import CodebookEstimator
from calibration.data import CalibrationData, Objective, applied_phases, level_indices
from calibration.fisher import fisher_information
from calibration.estimators import ESTIMATORS, GradientEstimator
from calibration.indicators import Indicator, IndicatorReading
from calibration.learned import LearnedEstimator
from calibration.metrics import prediction_nmse_db, prediction_spread, truth_metrics
from calibration.parameterization import Parameterization
from calibration.pilots import pilot_design, random_pilots
from calibration.residual import fit_residual
from calibration.sources import PilotSource, RecordedSource
from simhw.physics.geometry import FabricationErrors

__all__ = ["Calibrator", "StageReport", "CalibrationRun", "PeriodicSingleStage", "PeriodicMultiStage",
           "StateDriven", "radius_schedule"]

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
    initial_heldout_nmse_db: float  # the starting model (ideal or previous) on the held-out data
    stages: list = field(default_factory=list)
    model: CalibratedModel | None = None
    initial_truth: dict | None = None
    residual: dict | None = None  # the residual stage (calibration.residual): kept or not, and why

    @property
    def final_heldout_nmse_db(self) -> float:
        if self.residual and self.residual["kept"]:
            return self.residual["heldout_after_db"]
        return self.stages[-1].heldout_nmse_db

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
            rows.append(f"{'res':>5} {'':>6} {'':>8} {res['heldout_after_db']:>12.2f} {'':>8}  residual stage "
                        f"{'kept' if res['kept'] else 'not kept'}: {res['reason']}")
        return "\n".join(rows)


class Calibrator:
    """Measurement, estimation and bookkeeping shared by every protocol.

    ``estimator``: 'gradient', 'codebook', 'learned' or an object with ``fit(data, start, radius)``.
    ``truth``: optional ``() -> Cascade`` of the true SIM (simulation only) for per-layer metrics.
    """

    def __init__(self, par: Parameterization, source: PilotSource, estimator="gradient", design: str = "random",
                 heldout_slots: int = 40, bounds: FabricationErrors | None = None, seed=0,
                 registry: ModelRegistry | None = None, truth: Callable | None = None, max_slots: int = 2000,
                 estimator_options: dict | None = None, residual: bool = True):
        """``residual``: run the residual stage after the last stage (kept only where it lowers the
        held-out NMSE; :mod:`calibration.residual`)."""
        if source.shape[0] != par.ideal.n_layers or source.shape[1] * source.shape[2] != par.ideal.n_atoms:
            raise ValueError(f"the source's SIM is {source.shape}, the model has {par.ideal.n_layers} layers of "
                             f"{par.ideal.n_atoms} atoms: mismatched geometry")
        self.par, self.source = par, source
        self.design, self.seed = design, seed
        self.rng = np.random.default_rng(seed)
        self.bounds = bounds or FabricationErrors.paper(float(par.ideal.wavelengths[0]))
        self.registry, self.truth = registry, truth
        self.last_data: CalibrationData | None = None  # the pilots of the latest calibration, as measured
        self.last_heldout: CalibrationData | None = None
        self.max_slots = max_slots
        self.residual = residual
        self.estimator = self._make_estimator(estimator, estimator_options or {})
        L, N = par.ideal.n_layers, par.ideal.n_atoms
        recorded = getattr(source, "reference_codes", None)
        self.reference_codes = recorded if recorded is not None else random_pilots(heldout_slots, L, N, source.bits,
                                                                                   self.rng)
        self.model: CalibratedModel | None = registry.latest() if registry is not None else None
        if self.model is not None and self.model.parameterization != par.name:
            self.model = None  # a model of another form cannot seed this one

    def _make_estimator(self, estimator, options: dict):
        if not isinstance(estimator, str):
            return estimator
        if estimator == "gradient":
            return GradientEstimator(self.par, **options)
        if estimator == "codebook":
            return CodebookEstimator(self.par, self.bounds, **options)
        if estimator == "learned":
            pilots = random_pilots(self.max_slots, self.par.ideal.n_layers, self.par.ideal.n_atoms, self.source.bits,
                                   self.rng)
            return LearnedEstimator(self.par, self.bounds, pilots, self.source.bits, self.source.frequencies,
                                    **options)
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}")

    # ------------------------------------------------------------------ pieces
    def pilots(self, first: int, count: int) -> np.ndarray:
        """Pilot codes for slots first .. first+count-1 of a calibration."""
        if isinstance(self.source, RecordedSource):  # a recording decides its own pilots
            return self.source.pilots(first, count)
        if isinstance(self.estimator, LearnedEstimator):  # trained for its own pilots
            fixed = self.estimator.pilots
            if first + count > len(fixed):
                raise ValueError(f"the {self.estimator.name} estimator was trained for {len(fixed)} pilots; "
                                 f"{first + count} requested")
            return fixed[first:first + count]
        return pilot_design(self.design, count, self.par, self.source.bits, seed=self.rng)

    def measure_reference(self, progress: Progress | None = None) -> CalibrationData:
        return self.source.measure(self.reference_codes, _measure_cb(progress, "reference"))

    def _truth_dict(self, cascade) -> dict | None:
        return None if self.truth is None else truth_metrics(cascade, self.truth()).to_dict()

    def physical_bound(self, x, data: CalibrationData, response) -> dict | None:
        """The Cramer-Rao bound of the physical parameters at the estimate ``x`` for the pilots ``data``
        (calibration.fisher), the noise taken from the fit's residual; None for forms without one."""
        return _bound_of(self.par, x, data, response)

    def current_x(self) -> np.ndarray:
        return self.par.initial() if self.model is None else np.asarray(self.model.x, float)

    # ------------------------------------------------------------------ one calibration
    def calibrate(self, stages: int = 1, slots: int = 100, radii: list | None = None, protocol: str = "manual",
                  reason: str = "requested", progress: Progress | None = None, fresh: bool = False) -> CalibrationRun:
        """Run ``stages`` stages of ``slots`` pilots each, starting from the current model (or the ideal one)."""
        if stages < 1 or slots < 1:
            raise ValueError(f"need at least one stage and one slot, got {stages} stages of {slots} slots")
        radii = radii if radii is not None else ([None] if stages == 1 else radius_schedule(stages))
        if len(radii) != stages:
            raise ValueError(f"{len(radii)} radii for {stages} stages")
        t_start = self.source.now()
        heldout = self.measure_reference(progress)
        x = self.par.initial() if (fresh or self.model is None) else self.current_x()
        data = None
        run = None
        for s in range(stages):
            t0 = time.perf_counter()
            new = self.source.measure(self.pilots(0 if data is None else data.slots, slots),
                                      _measure_cb(progress, f"stage {s + 1}"))
            data = new if data is None else data.concat(new)
            if run is None:
                start = Objective(self.par, data).evaluate(x, gradient=False)
                run = CalibrationRun(protocol, reason, t_start, getattr(self.estimator, "name", "custom"), self.par.name,
                                     prediction_nmse_db(start.cascade, heldout, start.atom_response, start.leakage),
                                     initial_truth=self._truth_dict(start.cascade))
            self.last_data, self.last_heldout = data, heldout
            fit = self.estimator.fit(data, start=x, radius=radii[s], iteration=_iteration_cb(progress, s + 1))
            x = fit.x
            report = StageReport(s + 1, data.slots, time.perf_counter() - t0, fit.nmse_db,
                                 prediction_nmse_db(fit.cascade, heldout, fit.atom_response, fit.leakage), radii[s],
                                 self._truth_dict(fit.cascade))
            run.stages.append(report)
            if progress:
                progress({"kind": "stage", "stage": s + 1, "stages": stages, "report": report})
        cascade, response, leakage = fit.cascade, fit.atom_response, fit.leakage
        bound = self.physical_bound(x, data, response)
        if self.residual:
            res = fit_residual(cascade, response, leakage, data, heldout, self.par.receivers)
            run.residual = res.to_dict()
            cascade, response, leakage = res.cascade, res.atom_response, res.leakage
            if progress:
                progress({"kind": "residual", "residual": run.residual})
        metrics = {"protocol": protocol, "reason": reason, "estimator": run.estimator, "stages": len(run.stages),
                   "slots": data.slots, "heldout_nmse_db": run.final_heldout_nmse_db,
                   "initial_heldout_nmse_db": run.initial_heldout_nmse_db, "frequencies": len(data.frequencies),
                   "receivers": self.par.receivers,
                   "residual_stage": "off" if run.residual is None else ("kept" if run.residual["kept"] else "not kept"),
                   "heldout_before_residual_db": run.stages[-1].heldout_nmse_db,
                   **prediction_spread(cascade, heldout, response, leakage)}
        if bound is not None:
            metrics["physical_bound"] = bound
        model = CalibratedModel(cascade, x, self.par.name, self.par.ideal.describe(), metrics,
                                parent=None if self.model is None else self.model.version,
                                atom_response=response, leakage=leakage)
        if self.registry is not None:
            self.registry.add(model)
        self.model = model
        run.model = model
        if progress:
            progress({"kind": "done", "run": run})
        return run


def _bound_of(par, x, data: CalibrationData, response) -> dict | None:
    if not hasattr(par, "cascade_and_jvp") or par.channel == "free":
        return None
    levels = None if response is None else level_indices(data, len(response))
    theta, amp = applied_phases(data.theta, levels, response)
    fi = fisher_information(par, x, theta, None, amp, par.receivers, data.y)
    return {"names": fi.names, "estimate": np.asarray(x[:par.n_physical], float).tolist(),
            "crb_std": fi.std.tolist(), "sigma2": fi.sigma2, "noise": "the fit's residual (model error included)"}


def _iteration_cb(progress: Progress | None, stage: int):
    if progress is None:
        return None
    return lambda: progress({"kind": "iteration", "stage": stage})


def _measure_cb(progress: Progress | None, what: str):
    if progress is None:
        return None
    return lambda done, total: progress({"kind": "measure", "what": what, "done": done, "total": total})


class _Periodic:
    name = "periodic"

    def __init__(self, calibrator: Calibrator, period: float, clock: Callable[[], float] | None = None):
        if not period > 0:
            raise ValueError(f"period must be > 0 s, got {period}")
        self.calibrator, self.period = calibrator, float(period)
        self.clock = clock or time.monotonic
        self.last: float | None = None
        self.runs: list[CalibrationRun] = []

    def due(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return self.last is None or now - self.last >= self.period

    def next_due(self) -> float:
        return self.clock() if self.last is None else self.last + self.period

    def poll(self, progress: Progress | None = None) -> CalibrationRun | None:
        if not self.due():
            return None
        return self.run(progress)

    def run(self, progress: Progress | None = None, reason: str = "period") -> CalibrationRun:
        self.last = self.clock()
        run = self._calibrate(progress, reason)
        self.runs.append(run)
        return run


class PeriodicSingleStage(_Periodic):
    name = "periodic-single-stage"

    def __init__(self, calibrator: Calibrator, period: float, slots: int = 100, clock=None):
        super().__init__(calibrator, period, clock)
        self.slots = slots

    def _calibrate(self, progress, reason):
        return self.calibrator.calibrate(1, self.slots, protocol=self.name, reason=reason, progress=progress)


class PeriodicMultiStage(_Periodic):
    name = "periodic-multi-stage"

    def __init__(self, calibrator: Calibrator, period: float, stages: int = 10, slots: int = 100,
                 radii: list | None = None, clock=None):
        super().__init__(calibrator, period, clock)
        self.stages, self.slots = stages, slots
        self.radii = radii or radius_schedule(stages)

    def _calibrate(self, progress, reason):
        return self.calibrator.calibrate(self.stages, self.slots, self.radii, protocol=self.name, reason=reason,
                                         progress=progress)


class StateDriven:
    """Recalibrate when an indicator crosses its threshold (checked every ``check_every`` s)."""

    name = "state-driven"

    def __init__(self, calibrator: Calibrator, indicators: list[Indicator], check_every: float = 60.0,
                 stages: int = 3, slots: int = 100, radii: list | None = None, clock=None):
        if not indicators:
            raise ValueError("a state-driven protocol needs at least one indicator")
        self.calibrator, self.indicators = calibrator, list(indicators)
        self.check_every = float(check_every)
        self.stages, self.slots = stages, slots
        self.radii = radii or radius_schedule(stages, first=10.0)
        self.clock = clock or time.monotonic
        self.last_check: float | None = None
        self.readings: list[tuple[float, list[IndicatorReading]]] = []
        self.runs: list[CalibrationRun] = []

    def due(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return self.last_check is None or now - self.last_check >= self.check_every

    def check(self, progress: Progress | None = None) -> list[IndicatorReading]:
        """Measure the reference configurations and read every indicator (no recalibration)."""
        cal = self.calibrator
        if cal.model is None:
            raise RuntimeError("no calibrated model yet: run a calibration before monitoring")
        self.last_check = self.clock()
        ref = cal.measure_reference(progress)
        temp = cal.source.temperature()
        readings = [ind.read(ref, cal.model, temp) for ind in self.indicators]
        self.readings.append((self.last_check, readings))
        if progress:
            progress({"kind": "check", "readings": readings})
        return readings

    def rebaseline(self, progress: Progress | None = None) -> None:
        cal = self.calibrator
        ref = cal.measure_reference(progress)
        temp = cal.source.temperature()
        for ind in self.indicators:
            ind.rebaseline(ref, cal.model, temp)

    def run(self, progress: Progress | None = None, reason: str = "requested") -> CalibrationRun:
        run = self.calibrator.calibrate(self.stages, self.slots, self.radii, protocol=self.name, reason=reason,
                                        progress=progress)
        self.runs.append(run)
        self.rebaseline(progress)
        return run

    def poll(self, progress: Progress | None = None) -> CalibrationRun | None:
        """Calibrate if there is no model; else, if a check is due, check and recalibrate on a crossing."""
        if self.calibrator.model is None:
            run = self.run(progress, reason="no calibrated model")
            self.last_check = self.clock()
            return run
        if any(ind.baseline is None for ind in self.indicators):
            self.rebaseline(progress)
        if not self.due():
            return None
        crossed = [r for r in self.check(progress) if r.crossed]
        if not crossed:
            return None
        return self.run(progress, reason="; ".join(str(r) for r in crossed))
