"""The dashboard's telemetry: the daemon's PUB stream followed in batches on the gateway's own clock,
push acknowledgements coalesced and heartbeats thinned, for the browsers' WebSocket."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import zmq

from simhw.control.telemetry import subscriber
from simhw.control.topics import Topic

__all__ = ["forward_telemetry", "PUSH_EVERY_S", "HEARTBEAT_EVERY_S", "PUSH_ROWS", "READ_EVERY_S"]

PUSH_EVERY_S = 1.0  # push telemetry reaches the browsers coalesced at this period (a page shows the last rows)
HEARTBEAT_EVERY_S = 5.0  # and the daemon's heartbeats at most this often: a page shows uptime, not liveness
PUSH_ROWS = 50
READ_EVERY_S = 0.05  # the PUB stream is drained at this period, whatever the daemon's rate


async def forward_telemetry(publish_endpoint: str, curve: tuple | None, broadcast) -> None:
    """Follow the daemon's PUB stream at ``publish_endpoint`` (``curve``: the daemon's public key file and
    this client's secret key file) in batches, handing each message for the pages to ``broadcast(text)``:
    wake every ``READ_EVERY_S``, drain what arrived.

    The gateway's work is then bounded by its own clock, not by the daemon's push rate: a push
    message is kept as bytes (only the last ``PUSH_ROWS`` are decoded, once per ``PUSH_EVERY_S``),
    heartbeats are decoded only when one is due, every other topic is forwarded as it comes.
    """
    sub = subscriber(zmq.Context.instance(), publish_endpoint, curve, hwm=100_000)
    pushes: collections.deque = collections.deque(maxlen=PUSH_ROWS)  # raw push messages, newest last
    last_beat = next_flush = -1e9
    try:
        while True:
            await asyncio.sleep(READ_EVERY_S)
            for topic, body in _drain(sub):
                if topic == Topic.PUSH.encode():
                    pushes.append(body)
                elif topic != Topic.HEARTBEAT.encode() or time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                    last_beat = time.monotonic() if topic == Topic.HEARTBEAT.encode() else last_beat
                    await broadcast(json.dumps({"topic": topic.decode(), "data": json.loads(body)}))
            if pushes and time.monotonic() >= next_flush:
                next_flush = time.monotonic() + PUSH_EVERY_S
                await broadcast(_coalesced_pushes(pushes))
                pushes.clear()
    finally:
        sub.close()


def _drain(sub: zmq.Socket, limit: int = 100_000):
    """The messages waiting on ``sub`` as (topic, body), without blocking."""
    for _ in range(limit):
        try:
            topic, body = sub.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        yield topic, body


def _coalesced_pushes(bodies) -> str:
    """One ``push`` message for the page from several of the daemon's: their acknowledgements, newest last."""
    acks: list = []
    for body in bodies:
        data = json.loads(body)
        acks.extend(dict(a, t=data.get("t")) for a in data.get("pushes", []))
    acks = acks[-PUSH_ROWS:]
    return json.dumps({"topic": Topic.PUSH, "data": {"pushes": acks, "t": acks[-1]["t"] if acks else None}})
