"""Serve a simulated board firmware to drivers in the same process: ``simhw://NAME`` URLs.

The endpoint registers a pyserial URL handler (``sim_backend.urlhandler.protocol_simhw``), so a
driver opens it with ``serial.serial_for_url("simhw://board-…")`` exactly as it opens a pty or a
``socket://`` bridge, and the same SMP or Open-RIS bytes cross the same codecs. What changes is
the wire: a write hands the bytes to the firmware on the writer's thread and its reply is ready
for the next read, with no operating-system hop and no byte time. That is the link of the
embedded simulated bench (``simulation.transport = "inproc"`` in a bench file served by
``simhw daemon``): the fastest faithful board there is, for the control plane's latency budget.

Faults are those of :class:`~sim_backend.serial_endpoint.Faults` (dropped and flipped bytes in
both directions, spontaneous resets). A small service thread runs the firmware's timers (boot
event, watchdog) while nobody writes.
"""

from __future__ import annotations

import itertools
import threading
import time

import serial

from sim_backend.serial_endpoint import Faults, timer_wait

__all__ = ["InprocEndpoint", "lookup"]

_HANDLERS = "sim_backend.urlhandler"
if _HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(_HANDLERS)

_registry: dict[str, InprocEndpoint] = {}
_names = itertools.count(1)


def lookup(name: str) -> InprocEndpoint:
    """The running endpoint called ``name``; KeyError if there is none in this process."""
    return _registry[name]


class InprocEndpoint:
    """Runs ``firmware`` behind a ``simhw://`` URL of this process (same interface as SerialEndpoint)."""

    def __init__(self, firmware, faults: Faults | None = None, clock=time.monotonic):
        self.firmware = firmware
        self.faults = faults or Faults()
        self.clock = clock
        self.name = f"board-{next(_names)}-{id(self):x}"
        self.url = ""
        self.bytes_in = 0
        self.bytes_out = 0
        self._rx = bytearray()  # bytes on their way to the host
        self._cond = threading.Condition()
        self._attached = 0  # the open port's token; bytes for an older one are dropped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> InprocEndpoint:
        self.url = f"simhw://{self.name}"
        _registry[self.name] = self
        self._thread = threading.Thread(target=self._run, name=f"sim-board-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        _registry.pop(self.name, None)
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._cond:
            self._attached += 1  # any open port now reads nothing
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self) -> bool:
        return not self._stop.is_set()

    # ------------------------------------------------------------------ host side (the port calls these)
    def attach(self) -> int:
        """A port opened: it replaces the previous one (one host at a time, like a UART)."""
        with self._cond:
            self._attached += 1
            self._rx.clear()
            return self._attached

    def write(self, token: int, data: bytes) -> None:
        self.bytes_in += len(data)
        reply = self.firmware.receive(self.faults.apply(data), self.clock())
        self._emit(reply, token)

    def read(self, token: int, size: int, timeout: float | None) -> bytes:
        with self._cond:
            if not self._rx and timeout != 0:
                self._cond.wait_for(lambda: self._rx or token != self._attached, timeout)
            if token != self._attached:
                return b""
            out = bytes(self._rx[:size])
            del self._rx[:size]
            return out

    def waiting(self, token: int) -> int:
        with self._cond:
            return len(self._rx) if token == self._attached else 0

    def discard(self, token: int) -> None:
        with self._cond:
            if token == self._attached:
                self._rx.clear()

    def _emit(self, data: bytes, token: int | None = None) -> None:
        if not data:
            return
        data = self.faults.apply(data)
        with self._cond:
            if token is not None and token != self._attached:
                return  # the port that asked is closed: its reply is lost on the wire
            self.bytes_out += len(data)
            self._rx += data
            self._cond.notify_all()

    # ------------------------------------------------------------------ firmware timers
    def _run(self) -> None:
        next_reset = self.faults.next_reset(self.clock())
        while not self._stop.is_set():
            if self._stop.wait(timer_wait(self.firmware, self.clock())):
                return
            now = self.clock()
            if next_reset is not None and now >= next_reset:
                self.firmware.reset(now)
                next_reset = self.faults.next_reset(now)
            self._emit(self.firmware.poll(now))
