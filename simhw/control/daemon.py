"""The bench daemon: the one process that owns the board and the VNA.

Sockets: a ROUTER for requests (on every endpoint of ``daemon.bind``, tcp or ipc) and a PUB for
telemetry (``daemon.publish``). The I/O thread decodes requests with :mod:`simhw.control.schema`,
answers store queries and runs pushes itself, and hands every other hardware job to one worker
thread; one lock keeps the board to one operation at a time, in arrival order, while status
queries stay responsive. The worker also runs the scheduler between jobs.

Pushes are idempotent by config hash: if the board already shows the pushed pattern (verified
by readback at the last push) it is not re-applied. A push is acknowledged only after the board's
readback matched and the push is committed to the store.

Operations (docs/control.md): status, push, measure, push_measure, configs, config, pushes,
measurements, measurement, calibrations, calibration, calibrate, cancel, events.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
import zmq

from drivers.board import PushBatch
from simhw import __version__
from simhw.bench_config import BenchConfig
from simhw.phase_config import PhaseConfig, PhaseConfigError

from . import schema
from .schema import RequestError
from .store import Store, StoreFull

__all__ = ["BenchDaemon", "Cancelled"]

log = logging.getLogger("simhw.daemon")

STORE_OPS = {"status", "configs", "config", "pushes", "measurements", "measurement", "calibrations", "calibration",
             "events", "cancel", "ping"}
HARDWARE_OPS = {"push", "measure", "push_measure", "calibrate", "st_session"}
OPS = STORE_OPS | HARDWARE_OPS


class Cancelled(Exception):
    """A calibration was cancelled (by request or by shutdown)."""


@dataclass
class Job:
    ident: list | None  # routing frames of the requester
    msg: schema.Message | None
    kind: str
    params: dict
    config: PhaseConfig | None = None  # parsed and checked once, when the request arrived


def _loopback(endpoint: str) -> bool:
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


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
        if curve is None and not all(_loopback(e) for e in binds):
            raise ValueError("binding beyond loopback needs CURVE: set daemon.keys and daemon.server_key")
        self.jobs: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self._hw = threading.Lock()  # held by whoever drives the hardware: the worker, or the loop for pushes
        self._pending = threading.Event()  # jobs were queued
        self._woken = False  # a wake-up is on its way to the loop
        self._loop_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cancel: set = set()
        self.active_hash: str | None = None
        self.running_job: dict | None = None
        self.started = time.time()
        try:
            self.snapshot_id = store.snapshot(config.to_toml(), f"simhw {__version__}")
        except StoreFull as e:  # serve anyway: reads work, and writes answer store_full until there is room
            log.warning(json.dumps({"event": "store_full_at_start", "error": str(e)}))
            self.snapshot_id = None
        self.counters = {"requests": 0, "errors": 0, "pushes": 0, "applied": 0, "measurements": 0, "calibrations": 0}
        self._auth = None
        self.scheduler = None  # a Scheduler, set by run_daemon (or a program) when the bench file asks for one
        self._params = tuple(f"S{p + 2}1" for p in range(config.geometry.receive_ports))
        for stale in store.interrupted_calibrations():
            try:
                store.finish_calibration(stale, "interrupted")
                store.event("calibration_interrupted", {"id": stale})
            except StoreFull:
                break
        last = store.last_push()
        self.last_push_id = 0 if last is None else last["id"]
        if last is not None:
            self._restore_active(last["hash"])

    def _restore_active(self, hash_: str) -> None:
        """After a restart the last acknowledged push is trusted only if the board still shows it."""
        try:
            cfg = self.store.get_config(hash_)
            self.board.verify_active(cfg)
            self.active_hash = hash_
        except Exception as e:  # the board rebooted or shows something else: the next push re-applies
            log.info(json.dumps({"event": "active_unknown", "reason": str(e)}))
            self.active_hash = None

    # ------------------------------------------------------------------ sockets
    def _secure(self, sock) -> None:
        if self.curve is None:
            return
        import zmq.auth

        secret_file, _ = self.curve
        public, secret = zmq.auth.load_certificate(secret_file)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True

    def _start_auth(self) -> None:
        if self.curve is None:
            return
        from zmq.auth.thread import ThreadAuthenticator

        self._auth = ThreadAuthenticator(self.ctx, log=_AuthLog())
        self._auth.start()
        self._auth.configure_curve(domain="*", location=self.curve[1])

    def serve(self, ready: threading.Event | None = None) -> None:
        """Run until :meth:`stop`; binds, starts the worker, loops over requests and the outbox."""
        self._start_auth()
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 500)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        router.setsockopt(zmq.RCVHWM, 100_000)
        router.setsockopt(zmq.SNDHWM, 100_000)
        router.setsockopt(zmq.MAXMSGSIZE, 2 * schema.MAX_ARRAY_BYTES)
        self._secure(router)
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        self._secure(pub)
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
                    self._publish(pub, "heartbeat", self._status())
            self._cancel.add("*")
            self._submit(None)
            deadline = time.monotonic() + 30
            while worker.is_alive() and time.monotonic() < deadline:
                self._run_inline()  # pushes queued before the stop are still the loop's to run
                worker.join(timeout=0.05)
            self._flush(router, pub)
        finally:
            router.close()
            pub.close()
            wake_rx.close()
            if self._auth is not None:
                self._auth.stop()
            log.info(json.dumps({"event": "stopped"}))

    def stop(self) -> None:
        self._stop.set()

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

    def _reply(self, ident: list | None, frames: list) -> None:
        if ident is None:
            return
        self.outbox.put(("reply", ident, frames))
        self._wake()

    # ------------------------------------------------------------------ requests
    def _on_request(self, router, frames: list) -> None:
        self.counters["requests"] += 1
        route, body = [frames[0]], frames[1:]
        if body and body[0] == b"":  # a REQ client's empty delimiter goes back with the reply
            route, body = route + [b""], body[1:]
        rid = None
        try:
            msg = schema.decode(body)
            rid = msg.id
            op = msg.op
            if op not in OPS:
                raise schema.SchemaError("unknown_op", f"unknown operation {op!r}; known: {sorted(OPS)}")
            if op in HARDWARE_OPS:
                self._submit(Job(route, msg, op, dict(msg.header), self._check_hardware_request(msg)))
                return
            router.send_multipart([*route, *self._store_op(msg)])
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

    def _check_hardware_request(self, msg: schema.Message) -> PhaseConfig | None:
        """Refuse a bad hardware request before it is queued; returns the config a push carries."""
        op, h = msg.op, msg.header
        if op == "calibrate":
            for key in ("stages", "slots"):
                if key in h and not (isinstance(h[key], int) and 1 <= h[key] <= 10_000):
                    raise RequestError("bad_request", f"{key} must be an integer in 1..10000")
        if op == "st_session":
            for key, lo, hi in (("layer", 0, self.board.info.layers - 1), ("seed", 0, 2**64 - 1),
                                ("slots", 1, 100_000)):
                if not (isinstance(h.get(key), int) and lo <= h[key] <= hi):
                    raise RequestError("bad_request", f"st_session needs '{key}': an integer in {lo}..{hi}")
            if not (isinstance(h.get("rate_hz"), (int, float)) and h["rate_hz"] > 0):
                raise RequestError("bad_request", "st_session needs 'rate_hz' > 0")
        return self._config_of(msg) if op in ("push", "push_measure", "st_session") else None

    def _config_of(self, msg: schema.Message) -> PhaseConfig:
        text = msg.header.get("config")
        if not isinstance(text, str):
            raise RequestError("bad_request", "push needs 'config': a phase-config file line (PhaseConfig.to_bytes)")
        try:
            cfg = PhaseConfig.from_bytes(text.encode())
        except (PhaseConfigError, ValueError) as e:
            raise RequestError("bad_request", f"invalid config: {e}") from None
        info = self.board.info
        if cfg.shape != info.shape or cfg.bits != info.bits:
            raise RequestError("bad_request", f"config is {cfg.shape} {cfg.bits}-bit, the board is {info.shape} "
                                              f"{info.bits}-bit")
        return cfg

    def _status(self) -> dict:
        info = self.board.info
        return {"version": __version__, "schema": schema.SCHEMA_VERSION, "uptime_s": time.time() - self.started,
                "board": {"serial": info.serial, "model": info.model, "shape": list(info.shape), "bits": info.bits},
                "active_hash": self.active_hash, "last_push": self.last_push_id, "job": self.running_job,
                "queued": self.jobs.qsize(),
                "counters": dict(self.counters), "store": self.store.path,
                "schedule": None if self.scheduler is None else self.scheduler.describe(),
                "clock": self.clock()}

    def _store_op(self, msg: schema.Message) -> list:
        op, h, rid, st = msg.op, msg.header, msg.id, self.store
        limit = h.get("limit", 100)
        if not (isinstance(limit, int) and 1 <= limit <= 10_000):
            raise RequestError("bad_request", "limit must be an integer in 1..10000")
        try:
            if op in ("status", "ping"):
                return schema.reply(rid, status=self._status())
            if op == "configs":
                return schema.reply(rid, configs=st.list_configs(limit))
            if op == "config":
                cfg = st.get_config(str(h.get("hash")))
                return schema.reply(rid, config=cfg.to_bytes().decode())
            if op == "pushes":
                return schema.reply(rid, pushes=st.pushes(limit))
            if op == "measurements":
                return schema.reply(rid, measurements=st.list_measurements(limit))
            if op == "measurement":
                m = st.get_measurement(_int(h.get("measurement")))
                return schema.reply(rid, [m["frequencies"], m["s"]], measurement={k: m[k] for k in
                                                                                  ("id", "hash", "snapshot", "params",
                                                                                   "created_at")})
            if op == "calibrations":
                return schema.reply(rid, calibrations=st.list_calibrations(limit))
            if op == "calibration":
                c = st.get_calibration(_int(h.get("calibration")))
                model = c.pop("model")
                arrays = [] if model is None else [np.frombuffer(model, np.uint8)]
                return schema.reply(rid, arrays, calibration=c)
            if op == "events":
                kind = h.get("kind")
                return schema.reply(rid, events=st.events(kind if isinstance(kind, str) else None, limit))
            if op == "cancel":
                job = h.get("job")
                if not isinstance(job, str):
                    raise RequestError("bad_request", "cancel needs 'job'")
                self._cancel.add(job)
                return schema.reply(rid, cancelled=job)
        except KeyError as e:
            raise RequestError("not_found", f"no such record: {e}") from None
        raise RequestError("unknown_op", op)

    # ------------------------------------------------------------------ hardware worker
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
        try:
            return self.jobs.get_nowait()
        except queue.Empty:
            return False

    def _head_is_push(self) -> bool:
        try:
            head = self.jobs.queue[0]
        except IndexError:
            return False
        return head is not None and head.kind == "push"

    def _run_inline(self) -> None:
        """Pushes run on the loop's thread, when they are at the head of the queue and the hardware
        is idle, so a push costs no hand-off between threads and no thread competes with the loop for
        the interpreter; the worker runs everything else, in queue order."""
        if not self._head_is_push() or not self._hw.acquire(blocking=False):
            return  # a busy worker wakes the loop when the pushes are next
        try:
            while self._head_is_push():
                self._run_pushes(self._take_pushes())
        finally:
            self._hw.release()
        if not self.jobs.empty():
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
            self.store_event("fault", {"where": "scheduler", "error": str(e)})
            self.event("fault", {"where": "scheduler", "error": str(e)})

    def _take_pushes(self, limit: int = 256) -> list:
        """The push jobs at the head of the queue, up to ``limit`` (one group commit); stops at any other job."""
        batch = []
        while len(batch) < limit and self._head_is_push():
            batch.append(self.jobs.get_nowait())
        return batch

    def _run_pushes(self, batch: list) -> None:
        """Apply and verify each push in order (pipelined on the board link), commit all records in
        one transaction, then acknowledge; a failed push is answered with its error and the rest go on."""
        while batch:
            plan, shown = [], self.active_hash
            for job in batch:
                plan.append((job, job.config.hash != shown))  # a re-sent push of what is shown is not re-applied
                shown = job.config.hash
            sends = [job.config for job, applied in plan if applied]
            self.active_hash = None  # unknown until the readbacks match
            result = self.board.push_many(sends) if sends else PushBatch(0, None)
            done, sent = [], 0
            for job, applied in plan:
                if applied and sent == result.done:
                    break
                sent += applied
                done.append((job, applied))
            if result.error is None:
                self.active_hash = plan[-1][0].config.hash
            try:
                self._acknowledge(done)
            except StoreFull as e:  # shown on the board but not recorded: not acknowledged, and no more applied
                for job in batch:
                    self._fail(job, e)
                return
            if result.error is None:
                return
            self._fail(batch[len(done)], result.error)
            batch = batch[len(done) + 1:]

    def _apply(self, cfg: PhaseConfig) -> bool:
        """Show ``cfg`` on the board, verified by readback, unless it is already shown; returns whether it was sent."""
        if cfg.hash == self.active_hash:
            return False
        self.active_hash = None  # unknown until the readback matches
        self.board.push(cfg, verify=True)
        self.active_hash = cfg.hash
        return True

    def _acknowledge(self, done: list) -> list[dict]:
        """Commit [(job, applied), ...] in one transaction, then reply and publish; returns the acks."""
        if not done:
            return []
        ids = self.store.record_pushes([(job.config, None, job.msg.id, applied, job.msg.header["config"])
                                        for job, applied in done])
        acks = []
        for (job, applied), pid in zip(done, ids):
            ack = {"hash": job.config.hash, "applied": applied, "push": pid}
            self.counters["pushes"] += 1
            self.counters["applied"] += int(applied)
            if job.kind == "push":
                self._reply(job.ident, schema.reply(job.msg.id, **ack))
            acks.append(ack)
        self.last_push_id = max(self.last_push_id, ids[-1])
        self.event("push", {"pushes": acks})
        return acks

    def _fail(self, job: Job, e: Exception) -> None:
        from drivers.board import BoardVerifyError

        rid = job.msg.id if job.msg else None
        if isinstance(e, RequestError):
            self._reply(job.ident, schema.error_reply(rid, e.code, str(e)))
            return
        code = ("verify_failed" if isinstance(e, BoardVerifyError) else
                "store_full" if isinstance(e, StoreFull) else "hardware")
        log.warning(json.dumps({"event": "job_failed", "op": job.kind, "error": str(e)}))
        self.store_event("fault", {"op": job.kind, "error": str(e)})
        self.event("fault", {"op": job.kind, "error": str(e)})
        self._reply(job.ident, schema.error_reply(rid, code, f"{type(e).__name__}: {e}"))

    def store_event(self, kind: str, data: dict) -> None:
        """Record an event; a full store must not turn one failure into another (logged instead)."""
        try:
            self.store.event(kind, data)
        except StoreFull as e:
            log.warning(json.dumps({"event": "event_not_stored", "kind": kind, "error": str(e)}))

    def _run_job(self, job: Job) -> None:
        rid = job.msg.id if job.msg else None
        try:
            if job.kind == "measure":
                mid, f, s = self.do_measure()
                self._reply(job.ident, schema.reply(rid, [f, s], measurement=mid, hash=self.active_hash))
            elif job.kind == "push_measure":
                out = self._acknowledge([(job, self._apply(job.config))])[0]
                mid, f, s = self.do_measure()
                self._reply(job.ident, schema.reply(rid, [f, s], measurement=mid, **out))
            elif job.kind == "st_session":
                mid, r = self.do_st_session(job.config, job.params)
                self._reply(job.ident, schema.reply(rid, [r.responses.astype(np.complex128)], measurement=mid,
                                                    slots=r.slots, steps=r.steps, missed=r.missed, ifbw=r.ifbw,
                                                    seconds=r.seconds, slot_rate_hz=r.slot_rate_hz,
                                                    frequency=r.frequency, layer=r.layer, seed=r.seed))
            elif job.kind == "calibrate":
                job_id = job.params.get("job") if isinstance(job.params.get("job"), str) else uuid.uuid4().hex[:12]
                self._reply(job.ident, schema.reply(rid, job=job_id, started=True))
                self.do_calibrate(job_id, "requested", job.params)
        except Cancelled as e:
            if job.kind != "calibrate":
                self._reply(job.ident, schema.error_reply(rid, "cancelled", str(e)))
        except Exception as e:
            if job.kind == "calibrate":  # already acknowledged; the store and telemetry carry the failure
                self.store_event("fault", {"op": job.kind, "error": str(e)})
                self.event("fault", {"op": job.kind, "error": str(e)})
            else:
                self._fail(job, e)

    def do_measure(self):
        f = self.config.frequencies()
        self.vna.configure(float(f[0]), float(f[-1]), int(f.size), self.config.sweep.ifbw, self.config.sweep.power,
                           self._params)
        data = self.vna.measure()
        s = np.stack([data[p] for p in self._params], axis=-1)
        freqs = self.vna.frequencies()
        mid = self.store.put_measurement(self.active_hash, self.snapshot_id, list(self._params), freqs, s)
        self.counters["measurements"] += 1
        self.event("measurement", {"measurement": mid, "hash": self.active_hash})
        return mid, freqs, s

    def do_st_session(self, base: PhaseConfig, params: dict):
        """A randomised space-time session (simhw.spacetime.session); stores the per-slot responses."""
        from simhw.spacetime.session import run_st_session

        f = self.config.frequencies()
        frequency = float(params.get("frequency") or f[f.size // 2])
        param = str(params.get("param", "S21"))
        self.active_hash = None  # the board ends on a random slot
        r = run_st_session(self.board, self.vna, base, int(params["layer"]), int(params["seed"]),
                           int(params["slots"]), float(params["rate_hz"]), frequency, param)
        self.store.put_config(base)
        mid = self.store.put_measurement(base.hash, self.snapshot_id, [param], np.full(r.slots, frequency),
                                         r.responses[:, None])
        self.counters["measurements"] += 1
        info = {"measurement": mid, "hash": base.hash, "slots": r.slots, "missed": r.missed,
                "slot_rate_hz": r.slot_rate_hz, "seed": r.seed, "layer": r.layer}
        self.store.event("st_session", info)
        self.event("st_session", info)
        return mid, r

    def do_calibrate(self, job_id: str, reason: str, params: dict, protocol: str = "requested",
                     calibrator=None) -> dict | None:
        """Run one calibration job (from a request or the scheduler); store and publish it."""
        from .jobs import run_calibration

        self.running_job = {"job": job_id, "kind": "calibrate", "reason": reason}
        try:
            return run_calibration(self, job_id, reason, params, protocol, calibrator)
        finally:
            self.job_ending()

    def job_ending(self) -> None:
        """A calibration is over (called before its record is finished, so a client that reads the
        finished record also sees no job in flight)."""
        self.running_job = None
        self.active_hash = None  # pilots were shown: the board no longer holds the last pushed config

    def check_cancel(self, job_id: str) -> None:
        if job_id in self._cancel or "*" in self._cancel:
            self._cancel.discard(job_id)
            raise Cancelled(f"calibration {job_id} cancelled")


class _AuthLog:
    """Logger for the ZAP handler: refused clients become structured warnings."""

    def debug(self, msg, *args):
        text = msg % args if args else msg
        if "DENIED" in text or "Invalid" in text:
            log.warning(json.dumps({"event": "auth_denied", "detail": text}))

    def info(self, msg, *args):
        self.debug(msg, *args)

    def warning(self, msg, *args):
        log.warning(json.dumps({"event": "auth_warning", "detail": msg % args if args else msg}))

    def error(self, msg, *args):
        log.error(json.dumps({"event": "auth_error", "detail": msg % args if args else msg}))

    exception = error


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise RequestError("bad_request", f"expected an integer id, got {v!r}")
    return v
