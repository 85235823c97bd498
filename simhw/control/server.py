"""The bench daemon's server: the sockets, the queue and the worker in front of one bench service.

Sockets: a ROUTER for requests (on every endpoint of ``daemon.bind``, tcp or ipc) and a PUB for
telemetry (``daemon.publish``), with CURVE and a ZAP allow-list beyond loopback
(:mod:`simhw.control.auth`). Each request is decoded with :mod:`simhw.control.schema`, checked
against its declaration in :mod:`simhw.control.operations` and dispatched to its handler,
``(bench, request) -> reply`` on the :class:`~simhw.control.bench_service.BenchService`: store
reads are answered at once (:mod:`simhw.control.queries`); hardware jobs queue, fairly between
clients (:mod:`simhw.control.job_queue`), for one worker thread (:mod:`simhw.control.jobs`),
which also runs the scheduler between jobs; pushes at the head of the queue run on this loop
through the push pipeline (:mod:`simhw.control.pipeline`), committed in groups. One lock keeps the
board to one operation at a time, in arrival order, while status queries stay responsive. A push
is acknowledged only after the board's readback matched and the push is committed to the store.
The bench service sees this server only as its :class:`~simhw.control.bench_service.Host`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid

import zmq
from zmq.auth.thread import ThreadAuthenticator

from simhw.control import jobs, pipeline, queries, schema  # noqa: F401 - they register their handlers
from simhw.control.auth import is_loopback, secure, start_authenticator
from simhw.control.bench_service import PUSHES, BenchService, Cancelled
from simhw.control.job_queue import FairQueue
from simhw.control.lab.replicator import ReplicatorProcess, daemon_replicator
from simhw.control.operations import HANDLERS, OPERATIONS, operation
from simhw.control.request import Batch, Request, fail
from simhw.control.schema import RequestError
from simhw.control.topics import Topic

__all__ = ["BenchServer"]

log = logging.getLogger("simhw.daemon")

_UNHANDLED = set(OPERATIONS) - set(HANDLERS)  # jobs, queries and pipeline registered theirs on import
if _UNHANDLED:
    raise ImportError(f"declared operations without a handler: {sorted(_UNHANDLED)}")


class BenchServer:
    """Serve ``bench`` (a :class:`BenchService`) on the endpoints of its bench file's [daemon] section.

    ``curve``: (server secret key file, allowed client keys directory) or None. Nothing is bound,
    started or asked before :meth:`serve`.
    """

    def __init__(self, bench: BenchService, curve: tuple | None = None, context: zmq.Context | None = None):
        self.bench, self.curve = bench, curve
        self.config = bench.config
        binds = list(self.config.daemon.bind) + [self.config.daemon.publish]
        if curve is None and not all(is_loopback(e) for e in binds):
            raise ValueError("binding beyond loopback needs CURVE: set daemon.keys and daemon.server_key")
        self.ctx = context or zmq.Context.instance()
        self.jobs = FairQueue()
        self.outbox: queue.Queue = queue.Queue()
        self.replicator: ReplicatorProcess | None = None  # replication to the lab database ([lab] dsn)
        self.stop_grace_s = 30.0  # at stop, how long a running job may take to stop before it is marked interrupted
        self._hw = threading.Lock()  # held by whoever drives the hardware: the worker, or the loop for pushes
        self._pending = threading.Event()  # jobs were queued
        self._woken = False  # a wake-up is on its way to the loop
        self._loop_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._auth: ThreadAuthenticator | None = None
        bench.host = self

    # ------------------------------------------------------------------ the bench service's host
    def publish(self, topic: str, data: dict) -> None:
        """Publish on the PUB socket (thread-safe: goes through the outbox)."""
        self.outbox.put(("pub", topic, data))
        self._wake()

    def withdraw_pushes(self) -> list:
        return self.jobs.remove(lambda j: j.kind in PUSHES)

    def queued_calibrations(self) -> set:
        return {j.params.get("job") for j in self.jobs.snapshot() if j.kind == "calibrate"}

    def status(self) -> dict:
        return {
            "queued": len(self.jobs),
            "lab": None if self.replicator is None else self.replicator.status(self.bench.store.outbox_head()),
        }

    # ------------------------------------------------------------------ sockets
    def serve(self, ready: threading.Event | None = None) -> None:
        """Start the bench service, bind, start the worker, loop over requests and the outbox until :meth:`stop`."""
        self.bench.start()
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
            log.info(
                json.dumps(
                    {
                        "event": "serving",
                        "bind": self.config.daemon.bind,
                        "publish": self.config.daemon.publish,
                        "curve": self.curve is not None,
                    }
                )
            )
            self._loop_thread = threading.current_thread()
            self.replicator = daemon_replicator(self.config, self.bench.store.path, self.curve)
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
                    self._publish(pub, Topic.HEARTBEAT, self.bench.status())
            self.bench.cancel_all()
            self._submit(None)
            self._drain(worker, self.stop_grace_s)
            if worker.is_alive():  # a job that does not stop: its record says so before the hardware is closed
                self.bench.mark_interrupted("the daemon stopped while the job ran")
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
        if self._woken or threading.current_thread() is self._loop_thread or not hasattr(self, "_wake_addr"):
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

    def _sender(self, ident: list | None):
        """The way back to a requester, from any thread (through the outbox)."""

        def send(frames: list) -> None:
            if ident is not None:
                self.outbox.put(("reply", ident, frames))
                self._wake()

        return send

    # ------------------------------------------------------------------ requests
    def _on_request(self, router, frames: list) -> None:
        bench = self.bench
        bench.counters["requests"] += 1
        bench.last_request_at = time.monotonic()  # the scheduler's [calibration] idle_s counts from here
        route, body = [frames[0]], frames[1:]
        if body and body[0] == b"":  # a REQ client's empty delimiter goes back with the reply
            route, body = route + [b""], body[1:]
        rid = None
        try:
            msg = schema.decode(body)
            rid = msg.id
            op = operation(msg.op or "")
            request = Request(route, msg, op.name, op.check(msg.header, bench), self._sender(route))
            if op.hardware:
                with bench.admission:
                    self._admit(route[0], op.name)
                    self._submit(request)
                return
            try:
                router.send_multipart([*route, *HANDLERS[op.name](bench, request)])
            except KeyError as e:
                raise RequestError("not_found", f"no such record: {e}") from None
        except RequestError as e:
            bench.counters["errors"] += 1
            log.info(json.dumps({"event": "request_refused", "code": e.code, "reason": str(e)[:200]}))
            try:
                router.send_multipart([*route, *schema.error_reply(rid, e.code, str(e))], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        except Exception as e:  # a bug must not take the daemon down
            bench.counters["errors"] += 1
            log.exception("internal error")
            router.send_multipart([*route, *schema.error_reply(rid, "internal", f"{type(e).__name__}: {e}")])

    # ------------------------------------------------------------------ hardware worker
    def _admit(self, client: bytes, op: str) -> None:
        """Refuse (``busy``) a push while a calibration holds the bench, and a hardware job from a client
        that has ``daemon.max_queued`` queued already, so one client's backlog cannot grow without bound."""
        if op in PUSHES and self.bench.running_job is not None:
            raise RequestError("busy", self.bench.held_by())
        most, queued = self.config.daemon.max_queued, self.jobs.queued(client)
        if queued >= most:
            raise RequestError(
                "busy",
                f"this client has {queued} jobs queued; at most {most} (daemon.max_queued): wait for their replies",
            )

    def _submit(self, request: Request | None) -> None:
        self.jobs.put(request)
        if request is None or request.kind != "push":  # pushes are the loop's to run (see _run_inline)
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
                batch = Batch(self.jobs.take_while(lambda job: job.kind == "push", 256))  # one group commit
                try:
                    HANDLERS["push"](self.bench, batch)
                except Exception as e:  # no reply and no store error may end the serving loop
                    log.exception("push pipeline failure")
                    for request in batch.requests:
                        if not request.answered:
                            fail(self.bench, request, e, "internal")
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
                    if (
                        self.bench.scheduler is not None
                        and not self._stop.is_set()
                        and (idle or time.monotonic() - last_tick > 0.2)
                    ):
                        last_tick = time.monotonic()
                        self.bench.tick_scheduler()
                if not job:
                    break

    def _run_job(self, request: Request) -> None:
        try:
            reply = HANDLERS[request.kind](self.bench, request)
            if reply is not None:
                request.answer(reply)
        except Cancelled as e:
            if request.kind != "calibrate":
                request.answer(schema.error_reply(request.rid, "cancelled", str(e)))
        except Exception as e:
            if request.kind == "calibrate" and request.answered:  # the store and telemetry carry the failure
                self.bench.record(Topic.FAULT, {"op": request.kind, "error": str(e)})
            else:
                fail(self.bench, request, e)
