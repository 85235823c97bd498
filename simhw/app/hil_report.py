"""The hardware-in-the-loop check's report and figures: the measured focusing objective, the contrast cap a
calibrated model can stand behind, the configuration-independent floor at each receive port, the prediction
error on fresh configurations, and :class:`HILReport` with its table and JSON (:mod:`simhw.app.hil`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel

__all__ = [
    "BANDS",
    "CAP_DB",
    "DEFAULT_BAND",
    "HILReport",
    "floor_db",
    "uncertainty_cap_db",
    "fresh_prediction_error",
    "measured_objective_db",
    "write_report",
]

CAP_DB = 40.0
BANDS = ("sweep", "carrier")  # the objective's band: averaged over the sweep, or the sweep point nearest the carrier
DEFAULT_BAND = "carrier"  # a focusing configuration is a one-frequency design (simhw.app.hil)


@dataclass
class HILReport:
    port: int
    suppress: tuple = ()
    rows: list = field(default_factory=list)  # per model: name, predicted_db, measured_db, hash
    calibration: dict = field(default_factory=dict)
    seconds: float = 0.0
    truth_unavailable: str = ""  # why there is no truth row (the bench's truth is not a cascade model)
    cap_db: float = 40.0  # the contrast cap training used (from the calibrated model's uncertainty)
    fresh: dict = field(default_factory=dict)  # the model's prediction error on fresh configurations
    floor_db: list = field(default_factory=list)  # per receive port: the configuration-independent power (dB)
    interval_db: list = field(default_factory=list)  # the reported NMSE's 90 % interval over its test configurations
    band: str = DEFAULT_BAND  # one of BANDS
    frequencies_hz: list = field(default_factory=list)  # the sweep points the objective used

    def measured(self, name: str) -> float:
        return next(r["measured_db"] for r in self.rows if r["model"] == name)

    @property
    def calibrated_beats_ideal(self) -> bool:
        return self.measured("calibrated") > self.measured("ideal")

    @property
    def gap_to_truth_db(self) -> float | None:
        if self.truth_unavailable:
            return None
        return self.measured("truth") - self.measured("calibrated")

    def table(self) -> str:
        what = (
            f"contrast port {self.port} vs {list(self.suppress)} (capped at {self.cap_db:.1f} dB for the calibrated model)"
            if self.suppress
            else f"gain at port {self.port}"
        )
        lines = [
            f"focus on receive port {self.port}: {what} in dB, {self.band_text}",
            f"{'trained on':<12} {'predicted':>10} {'measured':>10} {'gain pred':>10} {'gain meas':>10} "
            f"{'contrast':>9} {'S err dB':>9}",
        ]
        nan = float("nan")
        for r in self.rows:
            pred, meas = r.get("predicted", {}), r.get("measured", {})
            lines.append(
                f"{r['model']:<12} {r['predicted_db']:>10.2f} {r['measured_db']:>10.2f} "
                f"{pred.get('gain_db', nan):>10.2f} {meas.get('gain_db', nan):>10.2f} "
                f"{meas.get('contrast_db', nan):>9.2f} {r.get('response_nmse_db', nan):>9.2f}"
            )
        line = f"calibration: held-out NMSE {self.calibration.get('heldout_nmse_db', float('nan')):.2f} dB"
        if self.interval_db:
            line += f" (90 % interval {self.interval_db[0]:.2f} to {self.interval_db[1]:.2f} dB)"
        if self.fresh:
            line += (
                f"; on {self.fresh['configs']} fresh configurations {self.fresh['nmse_db']:.2f} dB "
                f"(median {self.fresh['median_db']:.2f}, spread {self.fresh['spread_db']:.2f} dB)"
            )
        lines.append(line)
        gap = (
            f"truth unavailable: {self.truth_unavailable}"
            if self.truth_unavailable
            else f"truth - calibrated = {self.gap_to_truth_db:.2f} dB"
        )
        beats = f"calibrated beats ideal by {self.measured('calibrated') - self.measured('ideal'):.2f} dB"
        if self.suppress:
            raw = [
                next(r.get("measured", {}).get("contrast_db") for r in self.rows if r["model"] == n)
                for n in ("calibrated", "ideal")
            ]
            if None not in raw:
                beats += f" ({raw[0] - raw[1]:.2f} dB of raw contrast)"
        lines.append(f"{beats}; {gap}")
        floor = self.suppressed_floor_db
        if floor is not None:
            gain = next(r.get("measured", {}).get("gain_db") for r in self.rows if r["model"] == "calibrated")
            lines.append(
                f"configuration-independent floor at the suppressed port(s) {floor:.2f} dB (paths around the SIM, "
                f"as calibrated): the calibrated-trained gain {gain:.2f} dB stands {gain - floor:.2f} dB above it, "
                + (
                    "about the contrast any configuration can reach across the sweep"
                    if self.band == "sweep"
                    else "at one frequency a model that knows the path can cancel it at the null"
                )
            )
        return "\n".join(lines)

    @property
    def band_text(self) -> str:
        if self.band == "sweep":
            return "power-averaged over the sweep"
        if self.frequencies_hz:
            return f"at the carrier ({self.frequencies_hz[0] / 1e9:.4g} GHz, one sweep point)"
        return "at the carrier (one sweep point)"

    @property
    def suppressed_floor_db(self) -> float | None:
        """The highest configuration-independent power at a suppressed port (dB), or None."""
        if not (self.floor_db and self.suppress):
            return None
        return max(self.floor_db[p] for p in self.suppress)

    def to_dict(self) -> dict:
        return {
            "port": self.port,
            "suppress": list(self.suppress),
            "rows": self.rows,
            "calibration": self.calibration,
            "seconds": self.seconds,
            "calibrated_beats_ideal": self.calibrated_beats_ideal,
            "gap_to_truth_db": self.gap_to_truth_db,
            "truth_unavailable": self.truth_unavailable,
            "cap_db": self.cap_db,
            "fresh": self.fresh,
            "floor_db": self.floor_db,
            "interval_db": self.interval_db,
            "band": self.band,
            "frequencies_hz": self.frequencies_hz,
        }


def measured_objective_db(s: np.ndarray, port: int, suppress=(), cap_db: float = 40.0) -> dict:
    """The focusing objective (:class:`Focus`) on measured S-parameters (F, P): gain, and with
    ``suppress`` the contrast, raw and capped at ``cap_db``."""
    s = np.asarray(s)
    target = np.mean(np.abs(s[:, port]) ** 2)
    out = {"gain_db": float(10 * np.log10(target))}
    out["objective_db"] = out["gain_db"]
    if suppress:
        other = np.mean(np.abs(s[:, list(suppress)]) ** 2)
        out["contrast_db"] = float(10 * np.log10(target / other))
        out["objective_db"] = float(10 * np.log10(target / (other + 10 ** (-cap_db / 10) * target)))
    return out


def floor_db(model: CalibratedModel) -> list:
    """Per receive port, the power (dB, averaged over the model's frequencies) of what reaches it whatever the
    configuration: multipath and leakage around the SIM, as the calibration estimated them. A null
    cannot go much below it where the SIM's own response cannot follow that path's phase across the
    sweep (a path delayed by 3 ns turns 19 rad over 1 GHz, a SIM's paths a fraction of that)."""
    if model.leakage is None:
        return []
    return [
        float(10 * np.log10(max(np.mean(np.abs(model.leakage[:, p]) ** 2), 1e-300)))
        for p in range(model.leakage.shape[1])
    ]


def uncertainty_cap_db(model: CalibratedModel) -> float:
    """The contrast cap a model can stand behind: its held-out NMSE says how deep a null it can predict
    (an error of -20 dB fills any deeper null), so training does not chase depths it cannot see."""
    nmse = model.metrics.get("heldout_nmse_db")
    if nmse is None or not np.isfinite(nmse):
        return CAP_DB
    return float(np.clip(-nmse, 10.0, CAP_DB))


def fresh_prediction_error(cal: CalibratedModel, codes: np.ndarray, s: np.ndarray, bits: int) -> dict:
    """The calibrated model's prediction error on fresh configurations, beside what it reported."""
    if not len(codes):
        return {}
    pred = cal.predict(codes, bits)
    per = 10 * np.log10(np.sum(np.abs(pred - s) ** 2, axis=(1, 2)) / np.sum(np.abs(s) ** 2, axis=(1, 2)))
    return {
        "configs": int(len(codes)),
        "nmse_db": float(10 * np.log10(np.sum(np.abs(pred - s) ** 2) / np.sum(np.abs(s) ** 2))),
        "median_db": float(np.median(per)),
        "spread_db": float(np.std(per)),
        "reported_db": float(cal.metrics.get("heldout_nmse_db", float("nan"))),
    }


def write_report(report: HILReport, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hil.json").write_text(json.dumps(report.to_dict(), indent=2))
    (out / "hil.txt").write_text(report.table() + "\n")
    return out / "hil.json"
