"""State indicators for state-driven recalibration (seed 002, sec. III-C).

During operation the stack measures a few fixed reference configurations now and then and
watches indicators; each has a threshold and fires when its value moves that far from the
baseline recorded right after the last calibration:

``PredictionResidual``  NMSE (dB) between the calibrated model's prediction and the measured
                        responses of the reference configurations; fires on a rise.
``ReceivedPowerChange`` mean received power (dB) over the reference configurations; fires on a
                        change either way.
``BoardTemperature``    the board's reported temperature (deg C); fires on a change either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.data import CalibrationData

__all__ = ["Indicator", "IndicatorReading", "PredictionResidual", "ReceivedPowerChange", "BoardTemperature"]


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
        return f"{self.name}: {self.value:.2f} (baseline {base}, threshold {self.threshold:g}){' CROSSED' if self.crossed else ''}"


class Indicator:
    """``value(reference, model, temperature) -> float | None``; ``read`` compares it with the baseline."""

    name = "indicator"
    two_sided = True

    def __init__(self, threshold: float):
        if not threshold > 0:
            raise ValueError(f"{self.name} threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)
        self.baseline: float | None = None

    def value(self, reference: CalibrationData, model, temperature: float | None) -> float | None:
        raise NotImplementedError

    def rebaseline(self, reference: CalibrationData, model, temperature: float | None) -> None:
        self.baseline = self.value(reference, model, temperature)

    def read(self, reference: CalibrationData, model, temperature: float | None) -> IndicatorReading:
        v = self.value(reference, model, temperature)
        crossed = False
        if v is not None and self.baseline is not None:
            delta = v - self.baseline
            crossed = bool(abs(delta) > self.threshold if self.two_sided else delta > self.threshold)
        return IndicatorReading(self.name, v, self.baseline, self.threshold, crossed)


class PredictionResidual(Indicator):
    name = "prediction_residual_db"
    two_sided = False

    def value(self, reference, model, temperature):
        return model.prediction_nmse_db(reference)


class ReceivedPowerChange(Indicator):
    name = "received_power_db"

    def value(self, reference, model, temperature):
        return float(10 * np.log10(np.mean(np.abs(reference.y) ** 2)))


class BoardTemperature(Indicator):
    name = "board_temperature_c"

    def value(self, reference, model, temperature):
        return None if temperature is None else float(temperature)
