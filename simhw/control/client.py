"""Client of the bench daemon: a DEALER socket with timeouts, reconnection and clear errors.

    with DaemonClient("tcp://127.0.0.1:5555") as c:
        ack = c.push(config)             # acknowledged after the board's readback matched
        m = c.measure()                  # a Measurement: m.frequencies, m.s, m.config_hash, m.flag, ..
        print(c.status())

A request that gets no reply within ``timeout`` raises :class:`DaemonTimeout`; the socket is then
closed and re-created (a reply that arrives late is never mistaken for the next one, and replies
are matched by request id anyway). Error replies raise :class:`DaemonError` with the daemon's
code. :func:`subscribe` yields telemetry from the PUB socket; :class:`StateWatcher` is telemetry you
can trust across daemon restarts (it reads the full state first and again after losing the daemon).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid

import zmq

from simhw.control import schema
from simhw.control.client_ops import OperationMethods
from simhw.control.operations import OPERATIONS, PUSH_ACK, PUSH_FIELDS, Operation
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["DaemonClient", "DaemonError", "DaemonTimeout", "DaemonBatchError", "apply_curve"]


def apply_curve(sock, curve: tuple | None) -> None:
    """Make ``sock`` a CURVE client: curve = (server public key file, client secret key file)."""
    if curve is None:
        return
    import zmq.auth

    server_public, _ = zmq.auth.load_certificate(curve[0])
    public, secret = zmq.auth.load_certificate(curve[1])
    sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_public, public, secret


class DaemonError(RuntimeError):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class DaemonTimeout(DaemonError):
    def __init__(self, message: str):
        super().__init__("timeout", message)


class DaemonBatchError(DaemonError):
    """Some pushes of a batch failed: ``acks`` (in order; None for a push not acknowledged), ``errors``
    by index (pushes sent and refused, or sent and left unanswered), and ``unsent``: the indices never
    sent (the batch stopped when the daemon stopped answering), which the daemon never saw."""

    def __init__(self, acks: list, errors: dict, unsent: list | None = None):
        self.unsent = sorted(unsent or [])
        sent = len(acks) - len(self.unsent)
        first = (
            f"; first (#{min(errors)}): {errors[min(errors)]}"
            if errors
            else f"; the daemon could not be reached from #{self.unsent[0]} on"
        )
        super().__init__(
            errors[min(errors)].code if errors else "timeout",
            f"{len(errors)} of the {sent} pushes sent failed"
            + (f" and {len(self.unsent)} were not sent" if self.unsent else "")
            + f" ({len(acks)} in the batch){first}",
        )
        self.acks, self.errors = acks, errors


def _error(msg: schema.Message) -> DaemonError:
    err = msg.header.get("error", {})
    return DaemonError(err.get("code", "internal"), err.get("message", ""))


class DaemonClient(OperationMethods):
    """A DEALER socket to the daemon; one method per declared operation (:mod:`simhw.control.client_ops`)."""

    def __init__(
        self,
        endpoint: str,
        timeout: float = 10.0,
        curve: tuple | None = None,
        context: zmq.Context | None = None,
        name: str | None = None,
    ):
        """``curve``: (server public key file, client secret key file) to talk to a CURVE daemon."""
        self.endpoint, self.timeout, self.curve = endpoint, timeout, curve
        self.ctx = context or zmq.Context.instance()
        self.name = name or f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._ids = itertools.count()
        self.sock: zmq.Socket | None = None
        self._connect()

    def _connect(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        # a DEALER with no usable connection (e.g. a CURVE handshake the daemon refused) blocks in send
        sock.setsockopt(zmq.SNDTIMEO, max(1, int(self.timeout * 1000)))
        apply_curve(sock, self.curve)
        sock.connect(self.endpoint)
        self.sock = sock

    def reset(self) -> None:
        """Drop the socket and open a new one: replies still in flight are never read."""
        self._connect()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _socket(self) -> zmq.Socket:
        if self.sock is None:
            raise DaemonError("closed", f"this client of {self.endpoint} is closed")
        return self.sock

    def _unreachable(self) -> str:
        """Why a running daemon may not answer this client: the CURVE mismatch this client can name."""
        if self.curve is None:
            return "it uses CURVE and this client has no keys: give its server key and a client key on its allow-list"
        return (
            "it refuses this client's key: is the client's public key in the daemon's allow-list (daemon.keys), "
            "and the server key the daemon's?"
        )

    # ------------------------------------------------------------------ requests
    def next_id(self) -> str:
        return f"{self.name}-{next(self._ids)}"

    def send(self, op: str, arrays=(), rid: str | None = None, **fields) -> str:
        rid = rid or self.next_id()
        try:
            self._socket().send_multipart(schema.request(op, rid, arrays, **fields))
        except zmq.Again:
            self._connect()
            raise DaemonTimeout(
                f"could not send to {self.endpoint} within {self.timeout:g} s (no connection: daemon "
                f"down, or {self._unreachable()})"
            ) from None
        return rid

    def receive(
        self, rid: str | None = None, timeout: float | None = None, raise_errors: bool = True
    ) -> schema.Message:
        """The reply to ``rid`` (or the next reply); raises DaemonTimeout, and DaemonError for an error
        reply unless ``raise_errors`` is false."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket().poll(int(left * 1000)):
                self._connect()
                raise DaemonTimeout(
                    f"no reply from {self.endpoint} within {self.timeout if timeout is None else timeout:g}"
                    f" s (daemon down or busy, or {self._unreachable()})"
                )
            msg = schema.decode(self._socket().recv_multipart())
            if rid is not None and msg.id != rid:
                continue  # a late reply to an abandoned request
            if not msg.ok and raise_errors:
                raise _error(msg)
            return msg

    def request(self, op: str, arrays=(), timeout: float | None = None, **fields) -> schema.Message:
        return self.receive(self.send(op, arrays, **fields), timeout)

    # ------------------------------------------------------------------ operations
    def _call(self, name: str, timeout: float | None, /, **args):
        """Operation ``name`` with ``args`` (None: not sent, the daemon's default), its reply as declared."""
        op = OPERATIONS[name]
        by_name = {p.name: p for p in op.params}
        fields = {k: by_name[k].encode(v) for k, v in args.items() if v is not None}
        if op.result == "listing":
            return _listing(self, op, timeout, fields)
        return _result(op, self.request(op.name, timeout=timeout, **fields))

    # the compound operations
    def push_many(self, configs: list[PhaseConfig], window: int = 64) -> list[dict]:
        """Pipelined pushes (up to ``window`` in flight); acks in order.

        Every push sent is answered (or timed out) before this returns. If any failed, or the daemon
        stopped answering before all were sent, :class:`DaemonBatchError` is raised with the acks of
        those that succeeded (``acks``, None elsewhere), the errors of those sent, and ``unsent``."""
        pending: dict[str, int] = {}
        acks: dict[int, dict] = {}
        errors: dict[int, DaemonError] = {}
        unsent: list[int] = []
        it = iter(enumerate(configs))

        def send_next() -> None:
            nxt = next(it, None)
            if nxt is None:
                return
            try:
                pending[self.send("push", config=nxt[1].to_bytes().decode())] = nxt[0]
            except DaemonTimeout:  # no connection: neither this push nor the rest reached the daemon
                unsent.extend([nxt[0], *(i for i, _ in it)])

        for _ in range(window):
            send_next()
        while pending:
            try:
                msg = self.receive(None, raise_errors=False)
            except DaemonTimeout as e:
                errors.update({i: e for i in pending.values()})
                unsent.extend(i for i, _ in it)
                break
            if msg.id not in pending:
                continue
            i = pending.pop(msg.id)
            if msg.ok:
                acks[i] = {k: msg.header[k] for k in PUSH_FIELDS}
            else:
                errors[i] = _error(msg)
            send_next()
        if errors or unsent:
            raise DaemonBatchError([acks.get(i) for i in range(len(configs))], errors, unsent)
        return [acks[i] for i in range(len(configs))]

    def wait_calibration(self, job: str, timeout: float = 120.0) -> dict:
        """Poll the store's listing until the calibration of ``job`` is done, failed or cancelled; returns
        its record (without the model: ``calibration(id)`` fetches that)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for row in self.calibrations(limit=50):
                if row["job"] == job and row["status"] != "running":
                    return self.calibration(row["id"], model=False)[0]
            time.sleep(0.1)
        raise DaemonTimeout(f"calibration {job} did not finish within {timeout:g} s")


def _listing(client: DaemonClient, op: Operation, timeout, fields: dict) -> list:
    """Up to ``limit`` records of a listing, read page by page (each reply holds what fits one header)."""
    name, limit = op.fields[0], fields["limit"]
    rows: list = []
    while len(rows) < limit:
        h = client.request(op.name, timeout=timeout, **{**fields, "limit": limit - len(rows)}).header
        rows = h[name] + rows if op.name == "pushes" else rows + h[name]  # pushes: oldest first
        if h["next"] is None or not h[name]:
            break
        fields = {**fields, "before": h["next"]}
    return rows


def _result(op: Operation, msg: schema.Message):
    h, kind = msg.header, op.result
    if kind == "field":
        v = h[op.fields[0]]
        return op.decode(v) if op.decode else v
    if kind == "fields":
        return {k: h[k] for k in op.fields}
    if kind == "arrays+fields":
        return (*msg.arrays, {k: h[k] for k in op.fields})
    if kind == "arrays+field":
        return (*msg.arrays, h[op.fields[0]])
    if kind == "arrays+header":
        return (*msg.arrays, {k: v for k, v in h.items() if k not in ("ok", "id", "arrays")})
    if kind == "measurement":
        m = Measurement.from_record(h, *msg.arrays)
        m.push = {k: h[k] for k in PUSH_ACK} if "push" in op.fields else None
        return m
    if kind == "field+blob":
        return h[op.fields[0]], (msg.arrays[0].tobytes() if msg.arrays else None)
    return None
