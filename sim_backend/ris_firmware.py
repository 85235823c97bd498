"""Simulated firmware of the open-source 16x16 1-bit RIS (see drivers/open_ris.py for the protocol).

Behaves like the public firmware: input letters are folded to upper case, ``!`` or ``?`` starts a
command, LF completes it, CR clears the buffer, the receive FIFO holds 128 characters, malformed
commands get no reply, a reset prints the boot banner after the boot delay and ignores input
while booting. Pattern commands take the shift/latch time before ``#OK``.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from drivers.open_ris_codec import COLS, ROWS, decode_pattern, pattern_hex

__all__ = ["OpenRISFirmware"]

FIFO_SIZE = 128
_HEX = set(b"0123456789ABCDEF")


class OpenRISFirmware:
    def __init__(
        self,
        serial: str = "0",
        vext: float = 5.02,
        boot_delay: float = 0.2,
        latch_time: float = 300e-6,
        clock=time.monotonic,
    ):
        self.serial = serial
        self.vext = vext
        self.boot_delay = boot_delay
        self.latch_time = latch_time
        self.clock = clock
        self._lock = threading.RLock()
        self.active = np.zeros((ROWS, COLS), np.uint16)
        self._buf = bytearray()
        self.ready_at = clock()
        self._banner_due = False
        self.latch_count = 0
        self.boots = 1

    @property
    def layers(self) -> int:
        return 1

    def banner(self) -> bytes:
        return (
            b"\nOpen Source RIS\nFirmware version: 1.0\nSerial no.: "
            + self.serial.encode()
            + b"\nRow count: 16\nColumn count: 16\n\n#READY!\n"
        )

    def active_codes(self, now: float | None = None) -> np.ndarray:
        with self._lock:
            return self.active[None].copy()

    def reset(self, now: float | None = None) -> None:
        with self._lock:
            now = self.clock() if now is None else now
            self.active[:] = 0
            self._buf.clear()
            self.ready_at = now + self.boot_delay
            self._banner_due = True
            self.boots += 1

    def next_deadline(self) -> float | None:
        return self.ready_at if self._banner_due else None

    def poll(self, now: float | None = None) -> bytes:
        now = self.clock() if now is None else now
        with self._lock:
            if self._banner_due and now >= self.ready_at:
                self._banner_due = False
                return self.banner()
            return b""

    def trigger(self, now: float | None = None) -> bool:
        return False  # no trigger input on this board

    def receive(self, data: bytes, now: float | None = None) -> bytes:
        now = self.clock() if now is None else now
        out = bytearray(self.poll(now))
        with self._lock:
            if now < self.ready_at:
                return bytes(out)
            for ch in data.upper():
                if ch == 0x0D:
                    self._buf.clear()
                elif ch == 0x0A:
                    line, self._buf = bytes(self._buf), bytearray()
                    out += self._execute(line, now)
                elif len(self._buf) < FIFO_SIZE:
                    self._buf.append(ch)
                else:
                    self._buf.clear()  # FIFO overflow: the command is lost
        return bytes(out)

    def _execute(self, line: bytes, now: float) -> bytes:
        if line.startswith(b"!0X") and len(line) == 3 + 64 and set(line[3:]) <= _HEX:
            self.active[:] = decode_pattern(line[3:])
            self.latch_count += 1
            if self.latch_time:
                time.sleep(self.latch_time)
            return b"#OK\n"
        if line == b"?PATTERN":
            return b"#0X" + pattern_hex(self.active).encode() + b"\n"
        if line == b"?VEXT":
            return f"#{self.vext:05.2f} V\n".encode()
        if line == b"?SERIALNO":
            return b"#" + self.serial.encode() + b"\n"
        if line == b"!RESET":
            self.reset(now)
            return b""
        return b""  # malformed: no reply at all
