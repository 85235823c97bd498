"""State indicators for state-driven recalibration ([3] Interlayer error calibration, sec. III-C).

During operation the stack measures a few fixed reference configurations now and then and
watches indicators; each has a threshold and fires when its value moves that far from the
baseline recorded right after the last calibration:

``PredictionResidual``  NMSE (dB) between the calibrated model's prediction and the measured
                        responses of the reference configurations; fires on a rise.
``ReceivedPowerChange`` mean received power (dB) over the reference configurations; fires on a
                        change either way.
``BoardTemperature``    the board's reported temperature (deg C); fires on a change either way.

A threshold left as None is derived from the calibrated model's own uncertainty when the baseline
is taken: an indicator averaged over n reference configurations whose per-configuration error
spreads sigma dB (held-out, stored in the model's metrics) fluctuates by about sigma / sqrt(n)
between checks of an unchanged bench, so it fires at ``SIGMAS`` times that (never below
``FLOOR_DB``; ``FALLBACK_DB`` for a model that records no spread): a model that predicts well is watched closely, a rough one is not recalibrated on
its own noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.data import CalibrationData

__all__ = [
    "Indicator",
    "IndicatorReading",
    "PredictionResidual",
    "ReceivedPowerChange",
    "BoardTemperature",
    "SIGMAS",
    "FLOOR_DB",
]

SIGMAS = 3.0
FLOOR_DB = 0.5
FALLBACK_DB = 3.0  # the threshold for a model that carries no spread


@dataclass
class IndicatorReading:
    name: str
    value: float | None
    baseline: float | None
    threshold: float
    crossed: bool

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.name}: unavailable"
        base = "none" if self.baseline is None else f"{self.baseline:.2f}"
        return f"{self.name}: {self.value:.2f} (baseline {base}, threshold {self.threshold:.2f}){' CROSSED' if self.crossed else ''}"


class Indicator:
    """``value(reference, model, temperature) -> float | None``; ``read`` compares it with the baseline."""

    name = "indicator"
    two_sided = True
    spread_metric = ""  # the model metric (per-configuration spread, dB) a derived threshold comes from

    def __init__(self, threshold: float | None = None):
        if threshold is None and not self.spread_metric:
            raise ValueError(f"{self.name} needs a threshold")
        if threshold is not None and not threshold > 0:
            raise ValueError(f"{self.name} threshold must be > 0, got {threshold}")
        self.derived = threshold is None
        self.threshold = float("nan") if threshold is None else float(threshold)
        self.baseline: float | None = None

    def value(self, reference: CalibrationData, model, temperature: float | None) -> float | None:
        raise NotImplementedError

    def derive_threshold(self, reference: CalibrationData, model) -> float:
        """SIGMAS x the spread of the model's held-out error over sqrt(reference configurations)."""
        spread = (getattr(model, "metrics", None) or {}).get(self.spread_metric)
        if spread is None or not np.isfinite(spread):  # a model from before the spread was recorded
            return FALLBACK_DB
        return max(SIGMAS * float(spread) / np.sqrt(reference.slots), FLOOR_DB)

    def rebaseline(self, reference: CalibrationData, model, temperature: float | None) -> None:
        self.baseline = self.value(reference, model, temperature)
        if self.derived:
            self.threshold = self.derive_threshold(reference, model)

    def read(self, reference: CalibrationData, model, temperature: float | None) -> IndicatorReading:
        v = self.value(reference, model, temperature)
        crossed = False
        if v is not None and self.baseline is not None and np.isfinite(self.threshold):
            delta = v - self.baseline
            crossed = bool(abs(delta) > self.threshold if self.two_sided else delta > self.threshold)
        return IndicatorReading(self.name, v, self.baseline, self.threshold, crossed)


class PredictionResidual(Indicator):
    name = "prediction_residual_db"
    two_sided = False
    spread_metric = "heldout_spread_db"

    def value(self, reference, model, temperature):
        return model.prediction_nmse_db(reference)


class ReceivedPowerChange(Indicator):
    name = "received_power_db"
    spread_metric = "heldout_power_spread_db"

    def value(self, reference, model, temperature):
        return float(10 * np.log10(np.mean(np.abs(reference.y) ** 2)))


class BoardTemperature(Indicator):
    name = "board_temperature_c"

    def value(self, reference, model, temperature):
        return None if temperature is None else float(temperature)
