"""The bench daemon's serving loop: the one process that owns the board and the VNA.

Sockets: a ROUTER for requests (on every endpoint of ``daemon.bind``, tcp or ipc) and a PUB for
telemetry (``daemon.publish``), with CURVE and a ZAP allow-list beyond loopback
(:mod:`simhw.control.auth`). Each request is decoded with :mod:`simhw.control.schema`, checked
against its declaration in :mod:`simhw.control.operations` and dispatched to its handler: store
reads are answered at once (:mod:`simhw.control.queries`); hardware jobs queue for one worker
thread (:mod:`simhw.control.jobs`), which also runs the scheduler between jobs; pushes at the head
of the queue run on this loop through the push pipeline (:mod:`simhw.control.pipeline`). One
lock keeps the board to one operation at a time, in arrival order, while status queries stay
responsive. A push is acknowledged only after the board's readback matched and the push is
committed to the store.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid

import numpy as np
import zmq

from drivers.board import BoardResetError, BoardVerifyError
from drivers.capabilities import SettingsReport
from simhw.control import jobs, queries, schema  # noqa: F401 - jobs and queries register their handlers
from simhw.control.board_state import BoardState
from simhw.control.auth import is_loopback, secure, start_authenticator
from simhw.control.calibration_job import Cancelled, run_calibration
from simhw.control.job_queue import FairQueue
from simhw.control.jobs import Job
from simhw.control.lab.replicator import ReplicatorProcess, daemon_replicator
from simhw.control.operations import HANDLERS, OPERATIONS, OPS, operation
from simhw.control.pipeline import PushPipeline
from simhw.control.schema import RequestError
from simhw.control.store import Store, StoreFull
from simhw.control.topics import StoredEvent, Topic
from simhw.values.bench_config import BenchConfig
from simhw.version import __version__

__all__ = ["BenchDaemon", "Cancelled", "OPS"]

PUSHES = ("push", "push_measure")  # the operations that change what the board shows at a client's request

log = logging.getLogger("simhw.daemon")

_UNHANDLED = set(OPERATIONS) - set(HANDLERS)  # jobs, queries and pipeline registered theirs on import
if _UNHANDLED:
    raise ImportError(f"declared operations without a handler: {sorted(_UNHANDLED)}")


class BenchDaemon:
    """Serve ``board`` and ``vna`` described by ``config``; results go to ``store``.

    ``clock``: a ``() -> seconds`` callable for the scheduler (a simulated bench's clock in tests).
    ``curve``: (server secret key file, allowed client keys directory) or None.
    """

    def __init__(self, config: BenchConfig, board, vna, store: Store, clock=None, curve: tuple | None = None,
                 context: zmq.Context | None = None):
        self.config, self.board, self.vna, self.store = config, board, vna, store
        self.clock = clock or time.time
        self.ctx = context or zmq.Context.instance()
        self.curve = curve
        binds = list(config.daemon.bind) + [config.daemon.publish]
        if curve is None and not all(is_loopback(e) for e in binds):
            raise ValueError("binding beyond loopback needs CURVE: set daemon.keys and daemon.server_key")
        self.jobs = FairQueue()
        self.outbox: queue.Queue = queue.Queue()
        self.pipeline = PushPipeline(self)
        self._hw = threading.Lock()  # held by whoever drives the hardware: the worker, or the loop for pushes
        self._pending = threading.Event()  # jobs were queued
        self._woken = False  # a wake-up is on its way to the loop
        self._loop_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cancel: set = set()
        self._cancel_all = False
        self._job_deadline = float("inf")  # when the running calibration has held the hardware too long
        self._admission = threading.Lock()  # a push is admitted, or a calibration starts, not both at once
        self.shown = BoardState(self)  # what the board was last verified to show, and its latch report
        self.running_job: dict | None = None
        self.started = time.time()
        self.last_request_at = -1e9
        try:
            self.snapshot_id = store.snapshot(config.to_toml(), f"simhw {__version__}")
        except StoreFull as e:  # serve anyway: reads work, and writes answer store_full until there is room
            log.warning(json.dumps({"event": "store_full_at_start", "error": str(e)}))
            self.snapshot_id = None
        self.counters = {"requests": 0, "errors": 0, "pushes": 0, "applied": 0, "measurements": 0, "calibrations": 0}
        self._auth = None
        self.scheduler = None  # a Scheduler, set by run_daemon (or a program) when the bench file asks for one
        self.replicator: ReplicatorProcess | None = None  # replication to the lab database ([lab] dsn)
        self.stop_grace_s = 30.0  # at stop, how long a running job may take to stop before it is marked interrupted
        self.params = config.vna_params()  # what a sweep measures: the receive ports from the source port
        for stale in store.interrupted_calibrations():
            try:
                store.finish_calibration(stale, "interrupted")
                store.event(StoredEvent.CALIBRATION_INTERRUPTED, {"id": stale})
            except StoreFull:
                break
        try:
            self.vna_identity = str(vna.identify())  # asked once, before anything else drives the VNA
        except Exception as e:  # noqa: BLE001 - a VNA that cannot say who it is still measures
            self.vna_identity = f"unknown ({type(e).__name__})"
        last = store.last_push()
        self.last_push_id = 0 if last is None else last["id"]
        if last is not None:
            self._restore_active(last["hash"])

    def _restore_active(self, hash_: str) -> None:
        """After a restart the last acknowledged push is trusted only if the board still shows it."""
        try:
            cfg = self.store.get_config(hash_)
            self.board.verify_active(cfg)
            self.shown.verified(hash_)
        except Exception as e:  # the board rebooted or shows something else: the next push re-applies
            log.info(json.dumps({"event": "active_unknown", "reason": str(e)}))
            self.shown.forget()

    @property
    def active_hash(self) -> str | None:
        """The configuration the board was last verified to show (None: not known)."""
        return self.shown.hash

    @active_hash.setter
    def active_hash(self, value: None) -> None:
        if value is not None:
            raise ValueError("only a verified push sets what the board shows (BoardState.verified)")
        self.shown.forget()

    # ------------------------------------------------------------------ sockets
    def serve(self, ready: threading.Event | None = None) -> None:
        """Run until :meth:`stop`; binds, starts the worker, loops over requests and the outbox."""
        self._auth = start_authenticator(self.ctx, self.curve)
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 500)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        router.setsockopt(zmq.RCVHWM, 100_000)
        router.setsockopt(zmq.SNDHWM, 100_000)
        router.setsockopt(zmq.MAXMSGSIZE, 2 * schema.MAX_ARRAY_BYTES)
        secure(router, self.curve)
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        secure(pub, self.curve)
        wake_addr = f"inproc://simhw-wake-{uuid.uuid4().hex}"
        wake_rx = self.ctx.socket(zmq.PULL)
        wake_rx.bind(wake_addr)
        self._wake_addr = wake_addr
        self._wake_local = threading.local()
        try:
            for ep in self.config.daemon.bind:
                router.bind(ep)
            pub.bind(self.config.daemon.publish)
            worker = threading.Thread(target=self._worker, name="simhw-worker", daemon=True)
            worker.start()
            poller = zmq.Poller()
            poller.register(router, zmq.POLLIN)
            poller.register(wake_rx, zmq.POLLIN)
            log.info(json.dumps({"event": "serving", "bind": self.config.daemon.bind,
                                 "publish": self.config.daemon.publish, "curve": self.curve is not None}))
            self._loop_thread = threading.current_thread()
            self.replicator = daemon_replicator(self)
            if ready is not None:
                ready.set()
            next_beat = 0.0
            busy_s, last_request = self.config.daemon.busy_poll_us * 1e-6, -1e9
            while not self._stop.is_set():
                events = self._busy_poll(poller, busy_s, last_request) if busy_s else {}
                if not events:
                    events = dict(poller.poll(50))
                if router in events:
                    last_request = time.perf_counter()
                self._woken = False  # this pass handles everything queued so far; later wake-ups poll again
                if wake_rx in events:
                    while True:
                        try:
                            wake_rx.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                if router in events:
                    for _ in range(1000):
                        try:
                            frames = router.recv_multipart(zmq.NOBLOCK, copy=True)
                        except zmq.Again:
                            break
                        self._on_request(router, frames)
                self._run_inline()
                self._flush(router, pub)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.config.daemon.heartbeat_s
                    self._publish(pub, Topic.HEARTBEAT, self.status())
            self._cancel_all = True  # a calibration sees it at its next fit iteration
            self._submit(None)
            self._drain(worker, self.stop_grace_s)
            if worker.is_alive():  # a job that does not stop: its record says so before the hardware is closed
                self._mark_interrupted("the daemon stopped while the job ran")
                self._drain(worker, self.stop_grace_s)
            self._flush(router, pub)
        finally:
            if self.replicator is not None:
                self.replicator.stop()
            router.close()
            pub.close()
            wake_rx.close()
            if self._auth is not None:
                self._auth.stop()
            log.info(json.dumps({"event": "stopped"}))

    def stop(self) -> None:
        self._stop.set()

    def _drain(self, worker: threading.Thread, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while worker.is_alive() and time.monotonic() < deadline:
            self._run_inline()  # pushes queued before the stop are still the loop's to run
            worker.join(timeout=0.05)

    def _mark_interrupted(self, reason: str) -> None:
        for cid in self.store.interrupted_calibrations():
            try:
                self.store.finish_calibration(cid, "interrupted", metrics={"error": reason})
                self.store.event(StoredEvent.CALIBRATION_INTERRUPTED, {"id": cid, "reason": reason})
            except Exception as e:  # noqa: BLE001 - a full store: marked at the next start instead
                log.warning(json.dumps({"event": "calibration_not_marked", "calibration": cid, "error": str(e)}))

    def _busy_poll(self, poller, busy_s: float, last_request: float) -> dict:
        """Poll without sleeping until ``busy_s`` after the last request (``daemon.busy_poll_us``):
        a request that follows soon is taken by a running core, not one woken from idle. Not while
        the worker runs a job, which needs the interpreter more than the loop does."""
        while time.perf_counter() - last_request < busy_s and not self._hw.locked() and not self._stop.is_set():
            events = dict(poller.poll(0))
            if events:
                return events
        return {}

    def _wake(self) -> None:
        """Make the loop flush the outbox; one wake-up covers everything queued before the loop runs."""
        if self._woken or threading.current_thread() is self._loop_thread:
            return  # the loop flushes after every pass anyway
        self._woken = True
        sock = getattr(self._wake_local, "sock", None)
        if sock is None:
            sock = self._wake_local.sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._wake_addr)
        try:
            sock.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _flush(self, router, pub) -> None:
        while True:
            try:
                kind, a, b = self.outbox.get_nowait()
            except queue.Empty:
                return
            if kind == "reply":
                try:
                    router.send_multipart([*a, *b], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass  # the client went away; its record is in the store
            else:
                self._publish(pub, a, b)

    def _publish(self, pub, topic: str, data: dict) -> None:
        pub.send_multipart([topic.encode(), json.dumps({"t": time.time(), **data}, default=float).encode()])

    def event(self, topic: str, data: dict) -> None:
        """Publish on the PUB socket (thread-safe: goes through the outbox)."""
        self.outbox.put(("pub", topic, data))
        self._wake()

    def reply(self, ident: list | None, frames: list) -> None:
        """Send a reply from any thread (through the outbox)."""
        if ident is None:
            return
        self.outbox.put(("reply", ident, frames))
        self._wake()

    # ------------------------------------------------------------------ requests
    def _on_request(self, router, frames: list) -> None:
        self.counters["requests"] += 1
        self.last_request_at = time.monotonic()  # the scheduler's [calibration] idle_s counts from here
        route, body = [frames[0]], frames[1:]
        if body and body[0] == b"":  # a REQ client's empty delimiter goes back with the reply
            route, body = route + [b""], body[1:]
        rid = None
        try:
            msg = schema.decode(body)
            rid = msg.id
            op = operation(msg.op)
            params = op.check(msg.header, self)
            if op.hardware:
                with self._admission:
                    self._admit(route[0], op.name)
                    self._submit(Job(route, msg, op.name, params))
                return
            try:
                router.send_multipart([*route, *HANDLERS[op.name](self, rid, params)])
            except KeyError as e:
                raise RequestError("not_found", f"no such record: {e}") from None
        except RequestError as e:
            self.counters["errors"] += 1
            log.info(json.dumps({"event": "request_refused", "code": e.code, "reason": str(e)[:200]}))
            try:
                router.send_multipart([*route, *schema.error_reply(rid, e.code, str(e))], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        except Exception as e:  # a bug must not take the daemon down
            self.counters["errors"] += 1
            log.exception("internal error")
            router.send_multipart([*route, *schema.error_reply(rid, "internal", f"{type(e).__name__}: {e}")])

    def status(self) -> dict:
        info = self.board.info
        return {"version": __version__, "schema": schema.SCHEMA_VERSION, "uptime_s": time.time() - self.started,
                "bench": self.config.name, "vna": self.vna_identity, "model_version": self.store.latest_model_id(),
                "board": {"serial": info.serial, "model": info.model, "shape": list(info.shape), "bits": info.bits},
                "active_hash": self.active_hash, "last_push": self.last_push_id, "job": self.running_job,
                "queued": len(self.jobs),
                "counters": dict(self.counters), "store": self.store.path,
                "schedule": None if self.scheduler is None else self.scheduler.describe(),
                "clock": self.clock(),
                "lab": None if self.replicator is None else self.replicator.status(self.store.outbox_head())}


    # ------------------------------------------------------------------ hardware worker
    def _admit(self, client: bytes, op: str) -> None:
        """Refuse (``busy``) a push while a calibration holds the bench, and a hardware job from a client
        that has ``daemon.max_queued`` queued already, so one client's backlog cannot grow without bound."""
        if op in PUSHES and self.running_job is not None:
            raise RequestError("busy", self._held_by())
        most, queued = self.config.daemon.max_queued, self.jobs.queued(client)
        if queued >= most:
            raise RequestError("busy", f"this client has {queued} jobs queued; at most {most} "
                                       "(daemon.max_queued): wait for their replies")

    def _submit(self, job: Job | None) -> None:
        self.jobs.put(job)
        if job is None or job.kind != "push":  # pushes are the loop's to run (see _run_inline)
            self._pending.set()

    def _next_job(self):
        """The next queued job, None to stop, False if there is none or a push is next (pushes are
        the loop's to run); call with ``_hw`` held."""
        if self._head_is_push():
            self._wake()  # the loop may be asleep in poll: it runs the pushes, then hands the rest back
            return False
        return self.jobs.take()

    def _head_is_push(self) -> bool:
        head = self.jobs.head()
        return head is not None and head.kind == "push"

    def _run_inline(self) -> None:
        """Pushes run on the loop's thread, when they are at the head of the queue and the hardware
        is idle, so a push costs no hand-off between threads and no thread competes with the loop for
        the interpreter; the worker runs everything else, in queue order."""
        if not self._head_is_push() or not self._hw.acquire(blocking=False):
            return  # a busy worker wakes the loop when the pushes are next
        try:
            while self._head_is_push():
                batch = self._take_pushes()
                try:
                    HANDLERS["push"](self, batch)
                except Exception as e:  # no reply and no store error may end the serving loop
                    log.exception("push pipeline failure")
                    for job in batch:
                        if not job.answered:
                            self.fail(job, e, "internal")
        finally:
            self._hw.release()
        if self.jobs.head() is not None:
            self._pending.set()

    def _worker(self) -> None:
        last_tick = 0.0
        while True:
            self._pending.wait(0.05)
            self._pending.clear()  # cleared before looking: a job queued after this sets it again
            while True:
                with self._hw:
                    job = self._next_job()
                    if job is None:
                        return
                    if job:
                        self._run_job(job)
                    # the schedule is looked at when idle (pushes waiting for the loop go first), and at
                    # least every 0.2 s under a steady stream of jobs or pushes
                    idle = not job and not self._head_is_push()
                    if self.scheduler is not None and not self._stop.is_set() and (
                            idle or time.monotonic() - last_tick > 0.2):
                        last_tick = time.monotonic()
                        self._tick_scheduler()
                if not job:
                    break

    def _tick_scheduler(self) -> None:
        try:
            self.scheduler.tick(self)
        except Cancelled:
            pass
        except Exception as e:
            log.exception("scheduler failure")
            self.record(Topic.FAULT, {"where": "scheduler", "error": str(e)})

    def _take_pushes(self, limit: int = 256) -> list:
        """The push jobs at the head of the queue, up to ``limit`` (one group commit); stops at any other job."""
        return self.jobs.take_while(lambda job: job.kind == "push", limit)

    def fail(self, job: Job, e: Exception, code: str | None = None) -> None:
        """Answer ``job`` with the error ``e`` (recorded and published as a fault unless it is the request's)."""
        job.answered = True
        if isinstance(e, RequestError):
            self.reply(job.ident, schema.error_reply(job.rid, e.code, str(e)))
            return
        if isinstance(e, BoardResetError):
            self.shown.reset_seen(str(e))
        code = code or ("verify_failed" if isinstance(e, BoardVerifyError) else
                        "store_full" if isinstance(e, StoreFull) else "hardware")
        log.warning(json.dumps({"event": "job_failed", "op": job.kind, "error": str(e)}))
        self.record(Topic.FAULT, {"op": job.kind, "error": str(e)})
        self.reply(job.ident, schema.error_reply(job.rid, code, f"{type(e).__name__}: {e}"))

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

    def _run_job(self, job: Job) -> None:
        try:
            HANDLERS[job.kind](self, job)
        except Cancelled as e:
            if job.kind != "calibrate":
                self.reply(job.ident, schema.error_reply(job.rid, "cancelled", str(e)))
        except Exception as e:
            if job.kind == "calibrate" and job.answered:  # acknowledged; the store and telemetry carry the failure
                self.record(Topic.FAULT, {"op": job.kind, "error": str(e)})
            else:
                self.fail(job, e)

    def do_measure(self) -> dict:
        """Sweep as the bench file says and store the measurement, labelled with what the board reports
        it showed before and after the sweep (:mod:`simhw.control.board_state`); returns the record's
        id, frequencies, S, hash and flag."""
        label, flag, before = self.shown.label()
        f = self.config.frequencies()
        self.vna.configure(float(f[0]), float(f[-1]), int(f.size), self.config.sweep.ifbw, self.config.sweep.power,
                           self.params)
        data = self.vna.measure()
        s = np.stack([data[p] for p in self.params], axis=-1)
        freqs = self.vna.frequencies()
        label, flag = self.shown.confirm(before, label, flag)
        mid = self.store.put_measurement(label, self.snapshot_id, list(self.params), freqs, s, flag,
                                         settings=_vna_settings(self.vna), temperature_k=_board_kelvin(self.board))
        self.counters["measurements"] += 1
        self.event(Topic.MEASUREMENT, {"measurement": mid, "hash": label, "flag": flag})
        return {"measurement": mid, "frequencies": freqs, "s": s, "hash": label, "flag": flag}

    def do_calibrate(self, job_id: str, reason: str, params: dict, protocol: str = "requested",
                     calibrator=None, started=None) -> dict | None:
        """Run one calibration job (from a request or the scheduler); store and publish it. It is
        cancelled if it still runs after ``daemon.max_job_s``."""
        with self._admission:
            self.running_job = {"job": job_id, "kind": "calibrate", "reason": reason}  # cancellable from now on
            self._job_deadline = time.monotonic() + self.config.daemon.max_job_s
            waiting = self.jobs.remove(lambda j: j.kind in PUSHES)
        for job in waiting:  # none waits out a calibration: each is told at once what holds the bench
            self.fail(job, RequestError("busy", self._held_by()))
        try:
            return run_calibration(self, job_id, reason, params, protocol, calibrator, started)
        finally:
            self.job_ending()

    def _held_by(self) -> str:
        """Why a push is refused now: the calibration that holds the bench, and when it ends at the latest."""
        job, now = self.running_job or {}, time.monotonic()
        started = self._job_deadline - self.config.daemon.max_job_s
        return (f"calibration {job.get('job')} ({job.get('reason')}) holds the bench, for {now - started:.0f} s "
                f"so far; it ends within {max(self._job_deadline - now, 0):.0f} s (daemon.max_job_s): push again "
                "after it ends (status 'job' null, or its 'calibration' telemetry), or cancel it")

    def job_ending(self) -> None:
        """A calibration is over (called before its record is finished, so a client that reads the
        finished record also sees no job in flight)."""
        if self.running_job is not None:
            self._cancel.discard(self.running_job["job"])
        self.running_job = None
        self.active_hash = None  # pilots were shown: the board no longer holds the last pushed config

    def cancel(self, job_id: str) -> None:
        """Cancel the running calibration, or a queued one that named its job id; other ids are not_found."""
        queued = {j.params.get("job") for j in self.jobs.snapshot() if j.kind == "calibrate"}
        running = self.running_job["job"] if self.running_job else None
        if job_id != running and job_id not in queued:
            raise RequestError("not_found", f"no running or queued calibration has job id {job_id!r}")
        self._cancel.add(job_id)

    def check_cancel(self, job_id: str) -> None:
        if job_id in self._cancel or self._cancel_all:
            self._cancel.discard(job_id)
            raise Cancelled(f"calibration {job_id} cancelled")
        if time.monotonic() > self._job_deadline:
            raise Cancelled(f"calibration {job_id} ran longer than daemon.max_job_s = "
                            f"{self.config.daemon.max_job_s:g} s")


def _board_kelvin(board) -> float | None:
    """The board's temperature now, in kelvin (None: its status reports none)."""
    t = board.status().temperature_c
    return None if t is None else t + 273.15


def _vna_settings(vna) -> dict:
    """The instrument state a measurement records (correction, cal set, averaging, IFBW, power, model)."""
    return vna.measurement_settings() if isinstance(vna, SettingsReport) else {}
