"""The daemon's scheduler: periodic calibration and state-driven monitoring on an injectable clock.

Configured by the bench file's [calibration] section: every ``period_s`` of bench time a periodic
(multi-stage when ``stages`` > 1) calibration; every ``check_every_s`` a check of the indicators
(prediction residual of the current model on the reference configurations, received-power change,
and, when ``temperature_k`` > 0, board temperature) and a state-driven calibration when one
crosses its threshold. The times of the last runs and checks live in the store, so a restarted
daemon resumes the schedule where it stopped instead of starting over. Checks and calibrations show
other patterns on the board; afterwards the configuration the operator's last push showed is shown
again, verified by readback (:meth:`BoardState.restore`), so the next measurement measures it.
"""

from __future__ import annotations

import time
import uuid

from calibration.calibrated import CalibratedModel
from calibration.indicators import BoardTemperature, PredictionResidual, ReceivedPowerChange
from calibration.protocols import StateDriven
from simhw.control.calibration_job import make_calibrator
from simhw.control.topics import Topic

__all__ = ["Scheduler"]

STATE_KEY = "scheduler"


class Scheduler:
    def __init__(self, bench):
        self.bench = bench
        c = bench.config.calibration
        self.period, self.check_every = c.period_s, c.check_every_s
        self.calibrator = make_calibrator(bench)
        indicators = [PredictionResidual(c.residual_db or None), ReceivedPowerChange(c.power_db or None)]
        if c.temperature_k > 0:
            indicators.append(BoardTemperature(c.temperature_k))
        self.monitor = StateDriven(
            self.calibrator, indicators, check_every=max(c.check_every_s, 1e-9), clock=bench.clock
        )
        state = bench.store.get_state(STATE_KEY, {})
        self.last_periodic = state.get("last_periodic")
        self.last_check = state.get("last_check")
        self.monitor.last_check = self.last_check
        self.runs = state.get("runs", {"periodic": 0, "state-driven": 0})
        self.busy = False  # inside tick(): checking or calibrating
        self.did: str | None = None  # what this tick showed on the board: a check, a calibration
        self._model_id = bench.store.latest_model_id()  # the model the indicators judge

    def describe(self) -> dict:
        return {
            "period_s": self.period,
            "check_every_s": self.check_every,
            "last_periodic": self.last_periodic,
            "last_check": self.last_check,
            "runs": dict(self.runs),
            "model": None if self.calibrator.model is None else self.calibrator.model.hash[:16],
        }

    def _save(self) -> None:
        self.bench.store.set_state(
            STATE_KEY, {"last_periodic": self.last_periodic, "last_check": self.last_check, "runs": self.runs}
        )

    def _calibrate(self, kind: str, reason: str) -> None:
        self.did = f"{kind} calibration"
        job = f"{kind}-{uuid.uuid4().hex[:8]}"
        protocol = (
            "periodic-multi-stage"
            if kind == "periodic" and self.bench.config.calibration.stages > 1
            else ("periodic-single-stage" if kind == "periodic" else "state-driven")
        )
        self.bench.calibrate(job, reason, {}, protocol, self.calibrator)
        self._model_id = self.bench.store.latest_model_id()
        self.runs[kind] = self.runs.get(kind, 0) + 1
        if self.check_every:
            self.monitor.rebaseline()

    def _follow_store(self, bench) -> None:
        """A calibration someone requested is the current model too: monitor that one."""
        latest = bench.store.latest_model_id()
        if latest is None or latest == self._model_id:
            return
        model = CalibratedModel.from_bytes(bench.store.latest_model())
        self._model_id = latest
        if self.calibrator.accepts(model):
            self.calibrator.model = model
            self.did = "check"
            self.monitor.rebaseline()

    def tick(self, bench) -> None:
        """Run whatever is due now (called by the daemon's worker between jobs)."""
        self.busy = True
        before, self.did = bench.shown.hash, None
        try:
            self._tick(bench)
        finally:
            if before is not None and self.did is not None and bench.shown.hash != before:
                bench.shown.restore(before, self.did)
            self.busy = False

    def _tick(self, bench) -> None:
        if time.monotonic() - bench.last_request_at < bench.config.calibration.idle_s:
            return  # the operator is at work: what is due waits for a quiet bench
        now = bench.clock()
        if self.period and (self.last_periodic is None or now - self.last_periodic >= self.period):
            self.last_periodic = now
            self._save()
            self._calibrate("periodic", "period")
            return
        if not self.check_every:
            return
        self._follow_store(bench)
        if self.calibrator.model is None:
            self.last_check = now
            self._save()
            self._calibrate("state-driven", "no calibrated model")
            return
        if any(ind.baseline is None for ind in self.monitor.indicators):
            self.did = "check"
            self.monitor.rebaseline()
            bench.shown.forget()  # the reference configurations were shown
        if self.last_check is not None and now - self.last_check < self.check_every:
            return
        self.did = "check"
        readings = self.monitor.check()
        bench.shown.forget()  # the reference configurations were shown
        self.last_check = self.monitor.last_check
        self._save()
        payload = {
            r.name: {
                "value": r.value,
                "baseline": r.baseline,
                "threshold": r.threshold,
                "crossed": r.crossed,
                "clock": now,
            }
            for r in readings
        }
        bench.record(Topic.INDICATORS, payload)
        crossed = [str(r) for r in readings if r.crossed]
        if crossed:
            self._calibrate("state-driven", "; ".join(crossed))
