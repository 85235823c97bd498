"""Calibration protocols ([3] Interlayer error calibration, sec. III-C) as objects any scheduler can run: they decide
*when* a :class:`calibration.calibrator.Calibrator` calibrates. Each has ``due(now)`` and ``poll()``
(runs if due) on an injectable clock (any ``() -> seconds`` callable: ``time.monotonic``, a simulated
clock, a test's counter):

``PeriodicSingleStage``  one stage at the start of every period (coherence block).
``PeriodicMultiStage``   several stages every period.
``StateDriven``          every ``check_every`` seconds, measures the reference configurations and
                         reads its indicators; recalibrates (multi-stage, from the current model)
                         when one crosses its threshold, then records new baselines.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from calibration.calibration_run import CalibrationRun, Progress, radius_schedule
from calibration.calibrator import Calibrator
from calibration.indicators import Indicator, IndicatorReading

__all__ = ["PeriodicMultiStage", "PeriodicSingleStage", "StateDriven"]


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

    def __init__(
        self,
        calibrator: Calibrator,
        period: float,
        stages: int = 10,
        slots: int = 100,
        radii: list | None = None,
        clock=None,
    ):
        super().__init__(calibrator, period, clock)
        self.stages, self.slots = stages, slots
        self.radii = radii or radius_schedule(stages)

    def _calibrate(self, progress, reason):
        return self.calibrator.calibrate(
            self.stages, self.slots, self.radii, protocol=self.name, reason=reason, progress=progress
        )


class StateDriven:
    """Recalibrate when an indicator crosses its threshold (checked every ``check_every`` s)."""

    name = "state-driven"

    def __init__(
        self,
        calibrator: Calibrator,
        indicators: list[Indicator],
        check_every: float = 60.0,
        stages: int = 3,
        slots: int = 100,
        radii: list | None = None,
        clock=None,
    ):
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
        run = self.calibrator.calibrate(
            self.stages, self.slots, self.radii, protocol=self.name, reason=reason, progress=progress
        )
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
