"""The bench service: the board, the VNA, the store and what the board shows; apply, measure, calibrate.

It owns no socket and no thread, and does no I/O before :meth:`BenchService.start` (which writes
the bench's snapshot to the store, asks the VNA who it is and checks the board still shows the
last acknowledged push). What it tells the world goes through a :class:`Host` (the server's
telemetry, its queue of waiting pushes); without one (the Python API) nothing is published.
:meth:`BenchService.measure` is the one measure path: the daemon's and the Python API's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict
from typing import Protocol

import numpy as np

from drivers.capabilities import SettingsReport
from simhw.control import schema
from simhw.control.board_state import BoardState
from simhw.control.calibration_job import Cancelled, run_calibration
from simhw.control.operations import PUSH_FIELDS
from simhw.control.pipeline import PushPipeline
from simhw.control.request import fail
from simhw.control.schema import RequestError
from simhw.control.store import Store, StoreFull
from simhw.control.topics import StoredEvent, Topic
from simhw.values.bench_config import BenchConfig
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig
from simhw.version import __version__

__all__ = ["BenchService", "Host", "Cancelled", "PUSHES"]

PUSHES = ("push", "push_measure")  # the operations that change what the board shows at a client's request

log = logging.getLogger("simhw.daemon")


class Host(Protocol):
    """What a bench service asks of whoever serves it."""

    def publish(self, topic: str, data: dict) -> None:
        """Telemetry (thread-safe)."""

    def withdraw_pushes(self) -> list:
        """Take every queued push request (a calibration now holds the bench: each is refused ``busy``)."""

    def queued_calibrations(self) -> set:
        """The job ids of the calibration requests still queued."""

    def status(self) -> dict:
        """The server's part of the status: its queue, its replication."""


class _Alone:
    """The host of a bench service nobody serves: nothing published, nothing queued."""

    def publish(self, topic: str, data: dict) -> None:
        pass

    def withdraw_pushes(self) -> list:
        return []

    def queued_calibrations(self) -> set:
        return set()

    def status(self) -> dict:
        return {}


class BenchService:
    """``board`` and ``vna`` described by ``config``, results in ``store``; ``clock``: a ``() -> seconds``
    callable for the scheduler (a simulated bench's clock in tests)."""

    def __init__(self, config: BenchConfig, board, vna, store: Store, clock=None, host: Host | None = None):
        self.config, self.board, self.vna, self.store = config, board, vna, store
        self.clock = clock or time.time
        self.host: Host = host or _Alone()
        self.params = config.vna_params()  # what a sweep measures: the receive ports from the source port
        self.shown = BoardState(self)  # what the board was last verified to show, and its latch report
        self.pipeline = PushPipeline(self)
        self.counters = {"requests": 0, "errors": 0, "pushes": 0, "applied": 0, "measurements": 0, "calibrations": 0}
        self.scheduler = None  # a Scheduler, when the bench file asks for one
        self.admission = threading.Lock()  # a push is admitted, or a calibration starts, not both at once
        self.running_job: dict | None = None
        self.snapshot_id: int | None = None
        self.vna_identity = "unknown (not started)"
        self.last_push_id = 0
        self.started = time.time()
        self.last_request_at = -1e9  # the scheduler's [calibration] idle_s counts from here
        self._cancel: set = set()
        self._cancel_all = False
        self._job_deadline = float("inf")  # when the running calibration has held the hardware too long

    def start(self, take_over: bool = True) -> None:
        """Snapshot the bench description, ask the VNA who it is, trust the last acknowledged push only if the
        board still shows it. ``take_over``: this process owns the bench now, so calibrations a previous
        owner left running are marked interrupted."""
        self.started = time.time()
        try:
            self.snapshot_id = self.store.snapshot(self.config.to_toml(), f"simhw {__version__}")
        except StoreFull as e:  # serve anyway: reads work, and writes answer store_full until there is room
            log.warning(json.dumps({"event": "store_full_at_start", "error": str(e)}))
        if take_over:
            self.mark_interrupted(None)
        try:
            self.vna_identity = str(self.vna.identify())  # asked once, before anything else drives the VNA
        except Exception as e:  # noqa: BLE001 - a VNA that cannot say who it is still measures
            self.vna_identity = f"unknown ({type(e).__name__})"
        last = self.store.last_push()
        self.last_push_id = 0 if last is None else last["id"]
        if last is not None:
            try:
                self.board.verify_active(self.store.get_config(last["hash"]))
                self.shown.verified(last["hash"])
            except Exception as e:  # the board rebooted or shows something else: the next push re-applies
                log.info(json.dumps({"event": "active_unknown", "reason": str(e)}))
                self.shown.forget()

    def mark_interrupted(self, reason: str | None) -> None:
        """Finish as interrupted every calibration still recorded as running (a full store: at the next start)."""
        for cid in self.store.interrupted_calibrations():
            try:
                self.store.finish_calibration(cid, "interrupted", metrics=None if reason is None else {"error": reason})
                self.store.event(
                    StoredEvent.CALIBRATION_INTERRUPTED, {"id": cid, **({} if reason is None else {"reason": reason})}
                )
            except Exception as e:  # noqa: BLE001 - a full store: marked at the next start instead
                log.warning(json.dumps({"event": "calibration_not_marked", "calibration": cid, "error": str(e)}))
                if reason is None:
                    break

    @property
    def active_hash(self) -> str | None:
        """The configuration the board was last verified to show (None: not known)."""
        return self.shown.hash

    def status(self) -> dict:
        info = self.board.info
        return {
            "version": __version__,
            "schema": schema.SCHEMA_VERSION,
            "uptime_s": time.time() - self.started,
            "bench": self.config.name,
            "vna": self.vna_identity,
            "model_version": self.store.latest_model_id(),
            "board": {"serial": info.serial, "model": info.model, "shape": list(info.shape), "bits": info.bits},
            "active_hash": self.active_hash,
            "last_push": self.last_push_id,
            "job": self.running_job,
            "queued": 0,
            "counters": dict(self.counters),
            "store": self.store.path,
            "schedule": None if self.scheduler is None else self.scheduler.describe(),
            "clock": self.clock(),
            "lab": None,
            **self.host.status(),
        }

    # ------------------------------------------------------------------ telemetry and events
    def event(self, topic: str, data: dict) -> None:
        """Publish on telemetry (thread-safe)."""
        self.host.publish(topic, data)

    def record(self, kind: str, data: dict) -> None:
        """An event both kept in the store and published on telemetry."""
        self.store_event(kind, data)
        self.event(kind, data)

    def store_event(self, kind: str, data: dict) -> None:
        """Record an event; a full store must not turn one failure into another (logged instead)."""
        try:
            self.store.event(kind, data)
        except StoreFull as e:
            log.warning(json.dumps({"event": "event_not_stored", "kind": kind, "error": str(e)}))

    # ------------------------------------------------------------------ apply, push, measure
    def apply(self, cfg: PhaseConfig) -> bool:
        """Show ``cfg``, verified by readback, unless the board shows it already; returns whether it was sent."""
        return self.pipeline.apply(cfg)

    def push(self, cfg: PhaseConfig, client: str | None = None) -> dict:
        """Apply ``cfg`` and record the push; its acknowledgement (:data:`PUSH_FIELDS`)."""
        return self.record_pushes([(cfg, client, None, self.apply(cfg))])[0]

    def record_pushes(self, pushes: list) -> list[dict]:
        """Commit applied pushes [(config, client, request_id, applied[, text]), ...] in one transaction, count
        and publish them; their acknowledgements, in order."""
        ids = self.store.record_pushes(pushes)
        acks = [dict(zip(PUSH_FIELDS, (p[0].hash, p[3], pid))) for p, pid in zip(pushes, ids)]
        self.counters["pushes"] += len(acks)
        self.counters["applied"] += sum(a["applied"] for a in acks)
        self.last_push_id = max(self.last_push_id, ids[-1])
        self.event(Topic.PUSH, {"pushes": acks})
        return acks

    def measure(self) -> Measurement:
        """Sweep as the bench file says and store the measurement, labelled with what the board reports
        it showed before and after the sweep (:mod:`simhw.control.board_state`)."""
        label, flag, before = self.shown.label()
        f = self.config.frequencies()
        self.vna.configure(
            float(f[0]), float(f[-1]), int(f.size), self.config.sweep.ifbw, self.config.sweep.power, self.params
        )
        data = self.vna.measure()
        s = np.stack([data[p] for p in self.params], axis=-1)
        freqs = self.vna.frequencies()
        label, flag = self.shown.confirm(before, label, flag)
        m = Measurement(
            label,
            freqs,
            s,
            self.config.receive_vna_ports(),
            settings=_vna_settings(self.vna),
            source_port=self.config.vna.source_port,
            flag=flag,
            latched=asdict(before),
            snapshot=self.snapshot_id,
            temperature_k=_kelvin(self.shown.status),
        )
        m.id = self.store.put_measurement(m)
        self.counters["measurements"] += 1
        self.event(Topic.MEASUREMENT, {"measurement": m.id, "hash": label, "flag": flag})
        return m

    # ------------------------------------------------------------------ calibrate, cancel
    def calibrate(
        self, job_id: str, reason: str, params: dict, protocol: str = "requested", calibrator=None, started=None
    ) -> dict | None:
        """Run one calibration job (from a request or the scheduler); store and publish it. It is
        cancelled if it still runs after ``daemon.max_job_s``; pushes waiting for the bench are refused."""
        with self.admission:
            self.running_job = {"job": job_id, "kind": "calibrate", "reason": reason}  # cancellable from now on
            self._job_deadline = time.monotonic() + self.config.daemon.max_job_s
            waiting = self.host.withdraw_pushes()
        for request in waiting:  # none waits out a calibration: each is told at once what holds the bench
            fail(self, request, RequestError("busy", self.held_by()))
        try:
            return run_calibration(self, job_id, reason, params, protocol, calibrator, started)
        finally:
            self.job_ending()

    def held_by(self) -> str:
        """Why a push is refused now: the calibration that holds the bench, and when it ends at the latest."""
        job, now = self.running_job or {}, time.monotonic()
        started = self._job_deadline - self.config.daemon.max_job_s
        return (
            f"calibration {job.get('job')} ({job.get('reason')}) holds the bench, for {now - started:.0f} s "
            f"so far; it ends within {max(self._job_deadline - now, 0):.0f} s (daemon.max_job_s): push again "
            "after it ends (status 'job' null, or its 'calibration' telemetry), or cancel it"
        )

    def job_ending(self) -> None:
        """A calibration is over (called before its record is finished, so a client that reads the
        finished record also sees no job in flight)."""
        if self.running_job is not None:
            self._cancel.discard(self.running_job["job"])
        self.running_job = None
        self.shown.forget()  # pilots were shown: the board no longer holds the last pushed config

    def cancel(self, job_id: str) -> None:
        """Cancel the running calibration, or a queued one that named its job id; other ids are not_found."""
        running = self.running_job["job"] if self.running_job else None
        if job_id != running and job_id not in self.host.queued_calibrations():
            raise RequestError("not_found", f"no running or queued calibration has job id {job_id!r}")
        self._cancel.add(job_id)

    def cancel_all(self) -> None:
        """Stopping: a running calibration sees it at its next fit iteration, a queued one when it starts."""
        self._cancel_all = True

    def check_cancel(self, job_id: str) -> None:
        if job_id in self._cancel or self._cancel_all:
            self._cancel.discard(job_id)
            raise Cancelled(f"calibration {job_id} cancelled")
        if time.monotonic() > self._job_deadline:
            raise Cancelled(
                f"calibration {job_id} ran longer than daemon.max_job_s = {self.config.daemon.max_job_s:g} s"
            )

    def tick_scheduler(self) -> None:
        """Run what the scheduler has due (between jobs); a failure is a recorded fault, not a stop."""
        if self.scheduler is None:
            return
        try:
            self.scheduler.tick(self)
        except Cancelled:
            pass
        except Exception as e:
            log.exception("scheduler failure")
            self.record(Topic.FAULT, {"where": "scheduler", "error": str(e)})


def _kelvin(status) -> float | None:
    """The board's temperature in ``status``, in kelvin (None: its status reports none)."""
    t = None if status is None else status.temperature_c
    return None if t is None else t + 273.15


def _vna_settings(vna) -> dict:
    """The instrument state a measurement records (correction, cal set, averaging, IFBW, power, model)."""
    return vna.measurement_settings() if isinstance(vna, SettingsReport) else {}
