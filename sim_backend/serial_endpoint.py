"""Serve a simulated board firmware on a real serial endpoint: a pty or a TCP port.

The host side opens it with pyserial exactly as it would open hardware: the pty's path
(``/dev/pts/N``) or ``socket://127.0.0.1:PORT``. The endpoint models the UART's byte time at the
configured baud rate (8N1: 10 bit times per byte) in both directions, and injects faults on the
wire: dropped bytes, bit flips, replies split into small pieces, spontaneous resets.

A firmware is any object with ``receive(data, now) -> bytes``, ``poll(now) -> bytes`` and
``next_deadline() -> float | None``.
"""

from __future__ import annotations

import collections
import errno
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass

import numpy as np

__all__ = ["Faults", "SerialEndpoint", "timer_wait"]


@dataclass
class Faults:
    """Wire and board faults, per byte or per second, applied with a seeded generator."""

    drop: float = 0.0  # probability that a byte is lost, each direction
    flip: float = 0.0  # probability that a byte has one bit flipped, each direction
    split: bool = False  # deliver replies in random small pieces with small gaps
    reset_rate: float = 0.0  # spontaneous resets per second
    seed: int | None = None

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def next_reset(self, now: float) -> float | None:
        """When the next spontaneous reset happens (exponential waiting time), or None if never."""
        return now + self.rng.exponential(1.0 / self.reset_rate) if self.reset_rate else None

    @property
    def corrupts(self) -> bool:
        return self.drop > 0 or self.flip > 0

    def apply(self, data: bytes) -> bytes:
        if not data or not self.corrupts:
            return data
        arr = np.frombuffer(data, np.uint8).copy()
        if self.flip:
            hit = self.rng.random(arr.size) < self.flip
            if hit.any():
                arr[hit] ^= (1 << self.rng.integers(0, 8, int(hit.sum()))).astype(np.uint8)
        if self.drop:
            arr = arr[self.rng.random(arr.size) >= self.drop]
        return arr.tobytes()


def timer_wait(firmware, now: float, longest: float = 0.02) -> float:
    """How long an endpoint may sleep before the firmware's next timer (boot event, watchdog) is due."""
    deadline = firmware.next_deadline()
    return longest if deadline is None else min(longest, max(0.0, deadline - now))


class SerialEndpoint:
    """Runs ``firmware`` behind a pty (``kind='pty'``) or a TCP listener (``kind='tcp'``) in a thread."""

    def __init__(
        self,
        firmware,
        kind: str = "pty",
        baudrate: int | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock=time.monotonic,
    ):
        if kind not in ("pty", "tcp"):
            raise ValueError("kind must be 'pty' or 'tcp'")
        self.firmware = firmware
        self.kind = kind
        self.byte_time = 10.0 / baudrate if baudrate else 0.0
        self.faults = faults or Faults()
        self.clock = clock
        self._host, self._port = host, port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tx_thread: threading.Thread | None = None
        self._tx_queue: collections.deque = collections.deque()
        self._tx_cond = threading.Condition()
        self._tx_inflight = False
        self._rx_clock = 0.0
        self._tx_clock = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.url = ""
        self._conn: socket.socket | None = None
        self._master = self._slave = None
        self._listener = None

    # ------------------------------------------------------------------ lifetime
    def start(self) -> SerialEndpoint:
        if self.kind == "pty":
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self.url = os.ttyname(self._slave)
        else:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((self._host, self._port))
            self._listener.listen(1)
            self._listener.setblocking(False)
            self._port = self._listener.getsockname()[1]
            self.url = f"socket://{self._host}:{self._port}"
        self._thread = threading.Thread(target=self._run, name=f"sim-board-{self.url}", daemon=True)
        self._tx_thread = threading.Thread(target=self._run_tx, name=f"sim-board-tx-{self.url}", daemon=True)
        self._thread.start()
        self._tx_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in (self._thread, self._tx_thread):
            if t is not None:
                t.join(timeout=5)
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        for s in (self._conn, self._listener):
            if s is not None:
                s.close()
        self._conn = self._listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def drop_connection(self) -> None:
        """Close the current TCP client connection (the next client may connect)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ loop
    def _source(self):
        return self._master if self.kind == "pty" else self._conn

    def _run(self) -> None:
        next_reset = self.faults.next_reset(self.clock())
        while not self._stop.is_set():
            now = self.clock()
            wait = timer_wait(self.firmware, now)
            fds = [self._listener] if self.kind == "tcp" else []
            src = self._source()
            if src is not None:
                fds.append(src)
            try:
                readable, _, _ = select.select(fds, [], [], wait)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            if self.kind == "tcp" and self._listener in readable:
                self._accept()
                continue
            data = b""
            if src is not None and src in readable:
                data = self._read(src)
            now = self.clock()
            if next_reset is not None and now >= next_reset:
                self.firmware.reset(now)
                next_reset = self.faults.next_reset(now)
            if data:
                self._deliver(data, now)
            self._send(self.firmware.poll(self.clock()))

    def _deliver(self, data: bytes, now: float) -> None:
        """Hand received bytes to the firmware at the times they would finish arriving on the wire.

        Each 0x00-terminated piece is delivered when its last byte has arrived (the virtual line
        clock runs on from the previous piece, so sleep overshoot does not accumulate).
        """
        self.bytes_in += len(data)
        if not self.byte_time:
            self._send(self.firmware.receive(self.faults.apply(data), now))
            return
        start = max(self._rx_clock, now)
        pos = 0
        while pos < len(data):
            idx = data.find(b"\x00", pos)
            end = len(data) if idx < 0 else idx + 1
            t = start + end * self.byte_time
            self._sleep_until(t)
            self._send(self.firmware.receive(self.faults.apply(data[pos:end]), t))
            pos = end
        self._rx_clock = start + len(data) * self.byte_time

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        if self._conn is not None:
            self._conn.close()  # one client at a time, like a serial-over-TCP bridge
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn

    def _read(self, src) -> bytes:
        try:
            if self.kind == "pty":
                return os.read(src, 65536)
            data = src.recv(65536)
            if not data:
                self.drop_connection()
            return data
        except BlockingIOError:
            return b""
        except OSError as exc:
            if self.kind == "tcp":
                self.drop_connection()
            elif exc.errno != errno.EIO:
                raise
            return b""

    @staticmethod
    def _sleep_until(t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _send(self, data: bytes) -> None:
        """Queue bytes for the transmit thread, which paces them at the line rate."""
        if not data:
            return
        data = self.faults.apply(data)
        self.bytes_out += len(data)
        if self.byte_time:
            self._tx_clock = max(self._tx_clock, self.clock()) + len(data) * self.byte_time
        if not self.byte_time and not self.faults.split:
            with self._tx_cond:
                idle = not self._tx_queue and not self._tx_inflight
            if idle:  # an instant line with nothing queued: write here, no hand-off to the transmitter
                self._write(data)
                return
        pieces = [data]
        if self.faults.split and len(data) > 1:
            cuts = np.sort(self.faults.rng.choice(np.arange(1, len(data)), size=min(3, len(data) - 1), replace=False))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        with self._tx_cond:
            for i, piece in enumerate(pieces):
                self._tx_queue.append((self._tx_clock + 0.0005 * i * self.faults.split, piece))
            self._tx_cond.notify()

    def _run_tx(self) -> None:
        while True:
            with self._tx_cond:
                while not self._tx_queue and not self._stop.is_set():
                    self._tx_cond.wait(0.05)
                if not self._tx_queue:
                    return
                due, piece = self._tx_queue.popleft()
                self._tx_inflight = True
            self._sleep_until(due)
            self._write(piece)
            with self._tx_cond:
                self._tx_inflight = False

    def _write(self, data: bytes) -> None:
        try:
            if self.kind == "pty":
                os.write(self._master, data)
            elif self._conn is not None:
                self._conn.sendall(data)
        except (BlockingIOError, BrokenPipeError, ConnectionError, OSError):
            pass  # nobody listening: bytes on an unconnected UART are lost
