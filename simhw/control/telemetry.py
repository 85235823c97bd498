"""Following the daemon's telemetry (its PUB socket): :func:`subscribe` yields what it publishes, and
:class:`StateWatcher` keeps a full state current across lost connections."""

from __future__ import annotations

import json
import threading
import time

import zmq

from simhw.control.client import DaemonClient, DaemonTimeout, apply_curve
from simhw.control.topics import Topic

__all__ = ["subscriber", "subscribe", "StateWatcher"]


def subscriber(
    ctx: zmq.Context, endpoint: str, curve: tuple | None = None, topics=("",), hwm: int | None = None
) -> zmq.Socket:
    """A SUB socket connected to ``endpoint`` for ``topics`` (prefixes; "": all), a CURVE client when
    ``curve`` = (server public key file, client secret key file); ``hwm``: messages it may hold unread."""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if hwm is not None:
        sock.setsockopt(zmq.RCVHWM, hwm)
    apply_curve(sock, curve)
    for t in topics:
        sock.setsockopt(zmq.SUBSCRIBE, t.encode())
    sock.connect(endpoint)
    return sock


def subscribe(
    endpoint: str,
    topics=("",),
    timeout: float = 10.0,
    curve: tuple | None = None,
    context: zmq.Context | None = None,
    limit: int | None = None,
):
    """Yield (topic, data) telemetry from the daemon's PUB socket until ``timeout`` s pass without any."""
    sock = subscriber(context or zmq.Context.instance(), endpoint, curve, topics)
    n = 0
    try:
        while limit is None or n < limit:
            if not sock.poll(int(timeout * 1000)):
                return
            topic, data = sock.recv_multipart()
            n += 1
            yield topic.decode(), json.loads(data)
    finally:
        sock.close(linger=0)


class StateWatcher:
    """Follow the daemon's state: full state first, then updates; resynchronise after losing it.

        for kind, data in StateWatcher(request_ep, publish_ep).follow(duration=60):
            ...  # kind: "state" (the full status), "lost", or a telemetry topic

    The watcher subscribes, waits for a heartbeat (so its subscription is live and no later update
    can slip past), reads the full state with a ``status`` request, and only then passes on
    updates; a ``push`` update already covered by that state (push id <= its ``last_push``) is
    dropped. When no heartbeat arrives for ``lost_after`` seconds it yields
    ``("lost", ...)``, re-creates both sockets and reads the full state again (retrying until the
    daemon answers or the duration ends) before trusting any further update.
    """

    def __init__(
        self,
        request_endpoint: str,
        publish_endpoint: str,
        lost_after: float = 3.0,
        curve: tuple | None = None,
        context: zmq.Context | None = None,
    ):
        self.request_endpoint, self.publish_endpoint = request_endpoint, publish_endpoint
        self.lost_after, self.curve = lost_after, curve
        self.ctx = context or zmq.Context.instance()
        self.state: dict | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """End :meth:`follow` from another thread, within ``lost_after`` (it may be waiting for the daemon)."""
        self._stop.set()

    def _subscribe(self):
        return subscriber(self.ctx, self.publish_endpoint, self.curve)

    def _read_state(self, sub, deadline: float) -> dict | None:
        """Wait for a heartbeat on ``sub`` (the subscription is then live, so no later update can be
        missed), then read the full state; retries until the daemon answers or ``deadline``."""
        with DaemonClient(
            self.request_endpoint, timeout=min(self.lost_after, 5.0), curve=self.curve, context=self.ctx
        ) as c:
            while time.monotonic() < deadline and not self._stop.is_set():
                wait = min(self.lost_after, deadline - time.monotonic())
                if not sub.poll(int(max(wait, 0) * 1000) + 1):
                    continue
                topic, _ = sub.recv_multipart()
                if topic != Topic.HEARTBEAT.encode():
                    continue
                try:
                    return c.status()
                except DaemonTimeout:
                    continue
        return None

    def follow(self, duration: float, limit: int | None = None):
        """Yield (kind, data) for at most ``duration`` seconds (and at most ``limit`` items), or until :meth:`stop`."""
        self._stop.clear()
        deadline = time.monotonic() + duration
        n = 0
        sub = self._subscribe()
        try:
            self.state = self._read_state(sub, deadline)
            if self.state is None:
                return
            yield "state", self.state
            n += 1
            last_beat = time.monotonic()
            while (limit is None or n < limit) and time.monotonic() < deadline and not self._stop.is_set():
                wait = min(deadline, last_beat + self.lost_after) - time.monotonic()
                if wait > 0 and sub.poll(int(wait * 1000) + 1):
                    topic, raw = sub.recv_multipart()
                    topic, data = topic.decode(), json.loads(raw)
                    last_beat = time.monotonic() if topic == Topic.HEARTBEAT else last_beat
                    if topic == Topic.PUSH:
                        data = {"pushes": [a for a in data["pushes"] if a["push"] > self.state["last_push"]]}
                        if not data["pushes"]:
                            continue
                        self.state["last_push"] = data["pushes"][-1]["push"]
                        self.state["active_hash"] = data["pushes"][-1]["hash"]
                    yield topic, data
                    n += 1
                    continue
                if time.monotonic() < last_beat + self.lost_after:
                    continue
                yield "lost", {"silent_s": time.monotonic() - last_beat}
                n += 1
                sub.close(linger=0)
                sub = self._subscribe()
                state = self._read_state(sub, deadline)
                if state is None:
                    return
                self.state = state
                yield "state", state
                n += 1
                last_beat = time.monotonic()
        finally:
            sub.close(linger=0)
