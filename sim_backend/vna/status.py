"""The IEEE 488.2 status model (IEEE 488.2 sec. 11, SCPI-1999 vol. 1 ch. 9): the error queue, the
standard event status register and its enable mask, the status byte and the service request enable.

Errors set their event bit as the standard assigns it: -1xx command error (CME, bit 5), -2xx
execution error (EXE, bit 4), -3xx device-dependent error (DDE, bit 3), -4xx query error (QYE,
bit 2). The status byte carries the error/event queue bit (2), the message available bit (4),
the event summary bit (5, ESR & ESE) and the master summary bit (6, STB & SRE).

``*OPC`` sets the operation-complete bit once every pending operation is done: the instrument
gives a predicate (its sweeps are over), checked whenever the registers are read, so a client
polling the status byte (``*STB?``, HiSLIP AsyncStatusQuery, VXI-11 device_readstb) with
``*ESE 1`` sees the event summary bit appear when the sweep ends. Which interface's output queue
is non-empty (MAV) is the interface's to say: ``stb(message_available=...)``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["StatusModel", "ESR"]


class ESR:
    OPC, RQC, QYE, DDE, EXE, CME, URQ, PON = (1 << i for i in range(8))


def _event_bit(code: int) -> int:
    if -199 <= code <= -100:
        return ESR.CME
    if -299 <= code <= -200:
        return ESR.EXE
    if -399 <= code <= -300 or code > 0:
        return ESR.DDE
    if -499 <= code <= -400:
        return ESR.QYE
    return 0


class StatusModel:
    QUEUE_SIZE = 100

    def __init__(self, plus_sign: bool = True):
        self.errors: list[tuple[int, str]] = []
        self.esr = ESR.PON  # power-on
        self.ese = 0
        self.sre = 0
        self.plus_sign = plus_sign
        self._opc_done: Callable[[], bool] | None = None  # *OPC: the bit is set once this holds

    def push(self, code: int, text: str) -> None:
        self.esr |= _event_bit(code)
        if len(self.errors) >= self.QUEUE_SIZE:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, text))

    def pop(self) -> str:
        code, text = self.errors.pop(0) if self.errors else (0, "No error")
        return f'{code:+d},"{text}"' if self.plus_sign else f'{code:d},"{text}"'

    def opc_when(self, done: Callable[[], bool]) -> None:
        """*OPC: set the operation-complete bit once ``done()`` holds (checked at every register read)."""
        self._opc_done = done
        self._settle()

    def _settle(self) -> None:
        if self._opc_done is not None and self._opc_done():
            self.esr |= ESR.OPC
            self._opc_done = None

    def read_esr(self) -> int:
        self._settle()
        v, self.esr = self.esr, 0
        return v

    def stb(self, message_available: bool = False) -> int:
        self._settle()
        s = 0
        if self.errors:
            s |= 1 << 2
        if message_available:
            s |= 1 << 4
        if self.esr & self.ese:
            s |= 1 << 5
        if s & self.sre & ~(1 << 6):
            s |= 1 << 6
        return s

    def clear(self) -> None:
        """*CLS: the event registers and the error queue (not the enable masks)."""
        self.errors.clear()
        self.esr = 0
        self._opc_done = None
