"""The gateware's parameters and the sizes derived from them (docs/gateware.md)."""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

from drivers import smp
from drivers.features import Feature
from drivers.smp_messages import StatusInfo

__all__ = ["GatewareParams", "FEATURES"]

#: what the gateware implements; HELLO reports it and the driver uses nothing else
FEATURES = Feature.SHADOW | Feature.SLOTS | Feature.HOST_SEQUENCE | Feature.TRIGGER | Feature.WATCHDOG


@dataclass(frozen=True)
class GatewareParams:
    """A board of ``layers`` x ``rows`` x ``cols`` atoms of ``bits`` bits at ``clock_hz``, UART at ``baud``."""

    layers: int = 4
    rows: int = 6
    cols: int = 6
    bits: int = 2
    clock_hz: float = 50e6
    baud: int = 921600
    slots: int = 8
    max_frame: int = 0  # 0: room for the whole pattern in one WRITE
    reply_cache: int = 32
    serial: str = "SMPGW-0001"
    firmware: str = "1.0"
    boot_seed: int = 0x5EED0001
    debounce_s: float = 10e-6
    temperature_centi: int = 3500  # what STATUS reports: this design has no sensor

    def __post_init__(self):
        if not 1 <= self.bits <= 8:
            raise ValueError("the gateware drives 1 to 8 bits per atom")
        if self.layers < 1 or self.rows < 1 or self.cols < 1 or self.atoms > 0xFFFF:
            raise ValueError("layers, rows and cols must be positive, at most 65535 atoms per layer")
        if not 1 <= self.slots <= 256:
            raise ValueError("slots must be within 1..256")
        if self.divisor < 4:
            raise ValueError(f"clock {self.clock_hz:g} Hz is under 4 cycles per bit at {self.baud} baud")
        if self.reply_cache & (self.reply_cache - 1) or not 2 <= self.reply_cache <= 64:
            raise ValueError("reply_cache must be a power of two within 2..64")
        if not smp.OVERHEAD + 16 <= self.frame <= 253:
            raise ValueError(f"max_frame {self.frame} must be within {smp.OVERHEAD + 16}..253 (one COBS block)")
        if self.reply_bytes > 254:
            raise ValueError(f"a STATUS reply of {self.reply_bytes} bytes does not fit a reply buffer: fewer slots")
        if not re.fullmatch(r"\d{1,3}\.\d{1,3}", self.firmware):
            raise ValueError(f"firmware must be MAJOR.MINOR (each 0..255), got {self.firmware!r}")

    @property
    def atoms(self) -> int:
        """Atoms per layer."""
        return self.rows * self.cols

    @property
    def pattern_bytes(self) -> int:
        return (self.layers * self.atoms * self.bits + 7) // 8

    @property
    def frame(self) -> int:
        """The largest request frame accepted (HELLO's max_frame)."""
        if self.max_frame:
            return self.max_frame
        return max(64, min(253, smp.OVERHEAD + 5 + self.pattern_bytes))

    @property
    def reply_bytes(self) -> int:
        """The largest reply frame: STATUS with every slot, or a READ of a whole frame."""
        return max(smp.OVERHEAD + StatusInfo.S.size + StatusInfo.SLOT.size * self.slots, self.frame, 49)

    @property
    def entry(self) -> int:
        """Bytes per reply-buffer entry: a length byte and the frame, rounded up to a power of two."""
        return 1 << math.ceil(math.log2(self.reply_bytes + 1))

    @property
    def seq_max(self) -> int:
        """Sequence entries: as many as a SEQ_DEFINE of one frame carries."""
        return (self.frame - smp.OVERHEAD - 2) // 2

    @property
    def divisor(self) -> int:
        """Clock cycles per UART bit."""
        return int(round(self.clock_hz / self.baud))

    @property
    def ms_cycles(self) -> int:
        return max(1, int(round(self.clock_hz / 1000)))

    @property
    def debounce_cycles(self) -> int:
        return max(1, int(round(self.clock_hz * self.debounce_s)))

    @property
    def safe_crc(self) -> int:
        """The pattern CRC of the safe pattern (all codes 0)."""
        return zlib.crc32(bytes(self.pattern_bytes))

    @property
    def max_read(self) -> int:
        """Most atoms one READ may ask for (its reply must fit a frame)."""
        return ((self.frame - smp.OVERHEAD) * 8) // self.bits
