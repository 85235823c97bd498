"""SMP message bodies as typed classes, shared by the host driver and the board firmware.

Each class packs itself into a message body and unpacks one, refusing a body of the wrong
length with :class:`BodyError` (the firmware answers it NAK BAD_LENGTH; the driver treats it as
a reply it cannot trust). docs/protocol.md's message table gives the layouts; all integers are
little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import Field, astuple, dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar

from drivers.features import SMP_V1_FEATURES, Feature

__all__ = [
    "BodyError",
    "Body",
    "BodyT",
    "Hello",
    "Write",
    "Read",
    "Commit",
    "Latch",
    "SlotStoreBody",
    "SlotCrc",
    "Slot",
    "SeqDefine",
    "SeqArm",
    "SeqPosition",
    "SeqRandom",
    "WatchdogBody",
    "Nak",
    "Event",
    "HelloInfo",
    "StatusInfo",
    "SlotInfo",
]


class BodyError(ValueError):
    """A message body that does not have its type's layout."""


class Body(Protocol):
    """A message body class: it unpacks itself from a body, raising :class:`BodyError` on a wrong layout."""

    @classmethod
    def unpack(cls, body: bytes) -> Self: ...


BodyT = TypeVar("BodyT", bound=Body)


class _Fixed:
    """A body of one fixed-size struct; fields in declaration order."""

    S: ClassVar[struct.Struct]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # every body is a dataclass

    def pack(self) -> bytes:
        return self.S.pack(*astuple(self))

    @classmethod
    def unpack(cls, body: bytes):
        if len(body) != cls.S.size:
            raise BodyError(f"{cls.__name__} body must be {cls.S.size} bytes, got {len(body)}")
        return cls(*cls.S.unpack(body))


@dataclass(frozen=True)
class Write:
    """WRITE: ``count`` codes into the shadow at (layer, offset), bit-packed in ``data``."""

    layer: int
    offset: int
    count: int
    data: bytes

    HEAD: ClassVar[struct.Struct] = struct.Struct("<BHH")

    def pack(self) -> bytes:
        return self.HEAD.pack(self.layer, self.offset, self.count) + self.data

    @classmethod
    def unpack(cls, body: bytes) -> Write:
        if len(body) < cls.HEAD.size:
            raise BodyError(f"WRITE body shorter than its {cls.HEAD.size}-byte head")
        layer, offset, count = cls.HEAD.unpack_from(body)
        return cls(layer, offset, count, bytes(body[cls.HEAD.size :]))


@dataclass(frozen=True)
class Read(_Fixed):
    """READ: ``count`` codes of bank 0 (shadow) or 1 (active) from (layer, offset)."""

    bank: int
    layer: int
    offset: int
    count: int

    S: ClassVar[struct.Struct] = struct.Struct("<BBHH")


@dataclass(frozen=True)
class Commit(_Fixed):
    """COMMIT: latch the shadow if its CRC-32 is ``expected_crc``."""

    expected_crc: int

    S: ClassVar[struct.Struct] = struct.Struct("<I")


@dataclass(frozen=True)
class Latch(_Fixed):
    """The ACK of COMMIT and SLOT_LOAD: the active pattern's CRC and the latch count."""

    active_crc: int
    latch_count: int

    S: ClassVar[struct.Struct] = struct.Struct("<II")


@dataclass(frozen=True)
class SlotStoreBody(_Fixed):
    """SLOT_STORE: store the shadow in ``slot`` if its CRC-32 is ``expected_crc``."""

    slot: int
    expected_crc: int

    S: ClassVar[struct.Struct] = struct.Struct("<HI")


@dataclass(frozen=True)
class SlotCrc(_Fixed):
    """The ACK of SLOT_STORE: the stored pattern's CRC."""

    crc: int

    S: ClassVar[struct.Struct] = struct.Struct("<I")


@dataclass(frozen=True)
class Slot(_Fixed):
    """SLOT_LOAD: show ``slot``."""

    slot: int

    S: ClassVar[struct.Struct] = struct.Struct("<H")


@dataclass(frozen=True)
class SeqDefine:
    """SEQ_DEFINE: n u16, then n slot numbers u16."""

    slots: tuple

    N: ClassVar[struct.Struct] = struct.Struct("<H")

    def pack(self) -> bytes:
        return self.N.pack(len(self.slots)) + struct.pack(f"<{len(self.slots)}H", *self.slots)

    @classmethod
    def unpack(cls, body: bytes) -> SeqDefine:
        if len(body) < cls.N.size:
            raise BodyError("SEQ_DEFINE body shorter than its count")
        (n,) = cls.N.unpack_from(body)
        if len(body) != cls.N.size + 2 * n:
            raise BodyError(f"SEQ_DEFINE of {n} slots must be {cls.N.size + 2 * n} bytes, got {len(body)}")
        return cls(struct.unpack_from(f"<{n}H", body, cls.N.size))


@dataclass(frozen=True)
class SeqArm(_Fixed):
    """SEQ_ARM: mode (drivers.sequence.SequenceMode), loop, timer period in us."""

    mode: int
    loop: int
    period_us: int

    S: ClassVar[struct.Struct] = struct.Struct("<BBI")


@dataclass(frozen=True)
class SeqPosition(_Fixed):
    """The ACK of SEQ_START, SEQ_STOP and SEQ_STEP."""

    position: int
    steps: int

    S: ClassVar[struct.Struct] = struct.Struct("<HI")


@dataclass(frozen=True)
class SeqRandom(_Fixed):
    """SEQ_RANDOM: a never-ending sequence on ``base_slot`` re-drawing ``layer`` from ``seed``."""

    base_slot: int
    layer: int
    seed: int

    S: ClassVar[struct.Struct] = struct.Struct("<HBQ")


@dataclass(frozen=True)
class WatchdogBody(_Fixed):
    """WATCHDOG: show the safe pattern after ``timeout_ms`` without a frame (0: off)."""

    timeout_ms: int

    S: ClassVar[struct.Struct] = struct.Struct("<H")


@dataclass(frozen=True)
class Nak(_Fixed):
    """NAK: a code (drivers.smp.NakCode) and a detail."""

    code: int
    detail: int = 0

    S: ClassVar[struct.Struct] = struct.Struct("<BH")

    @classmethod
    def code_of(cls, body: bytes) -> int:
        """The code of a NAK body, even of one too short to unpack (0 if empty)."""
        return body[0] if body else 0


@dataclass(frozen=True)
class Event(_Fixed):
    """EVENT: kind (drivers.smp.EventKind), the board's boot id, data."""

    kind: int
    boot_id: int
    data: int

    S: ClassVar[struct.Struct] = struct.Struct("<BII")


@dataclass(frozen=True)
class Hello:
    """HELLO (version 2): the host's session id; a board that sees a new one forgets its reply cache, so a
    restarted host is never answered from it. Version 1's HELLO has an empty body."""

    session: int

    S: ClassVar[struct.Struct] = struct.Struct("<I")

    def pack(self) -> bytes:
        return self.S.pack(self.session)

    @classmethod
    def unpack(cls, body: bytes) -> Hello:
        if len(body) != cls.S.size:
            raise BodyError(f"HELLO body must be {cls.S.size} bytes, got {len(body)}")
        return cls(*cls.S.unpack(body))


@dataclass(frozen=True)
class HelloInfo:
    """The ACK of HELLO: who the board is, what it takes and (version 2) what it can do."""

    protocol: int
    firmware: str
    serial: str
    layers: int
    rows: int
    cols: int
    bits: int
    max_frame: int
    slots: int
    boot_id: int
    features: Feature = SMP_V1_FEATURES

    S: ClassVar[struct.Struct] = struct.Struct("<BBBBHHBHHI16s")  # version 1
    FEATURES: ClassVar[struct.Struct] = struct.Struct("<I")  # version 2 adds the capability bitmap

    def pack(self) -> bytes:
        major, minor = (int(x) for x in self.firmware.split("."))
        head = self.S.pack(
            self.protocol,
            major,
            minor,
            self.layers,
            self.rows,
            self.cols,
            self.bits,
            self.max_frame,
            self.slots,
            self.boot_id,
            self.serial.encode()[:16],
        )
        return head + (self.FEATURES.pack(int(self.features)) if self.protocol >= 2 else b"")

    @classmethod
    def unpack(cls, body: bytes) -> HelloInfo:
        version = body[0] if body else None
        want = cls.S.size if version == 1 else cls.S.size + cls.FEATURES.size
        if version is None or len(body) != want:
            raise BodyError(f"HELLO reply of version {version} must be {want} bytes, got {len(body)}")
        p, ma, mi, L, r, c, b, mf, s, boot, ser = cls.S.unpack_from(body)
        feats = (
            Feature(cls.FEATURES.unpack_from(body, cls.S.size)[0] & int(Feature.all())) if p >= 2 else SMP_V1_FEATURES
        )
        return cls(p, f"{ma}.{mi}", ser.rstrip(b"\x00").decode("ascii", "replace"), L, r, c, b, mf, s, boot, feats)


@dataclass(frozen=True)
class SlotInfo:
    valid: bool
    crc: int


@dataclass(frozen=True)
class StatusInfo:
    """The ACK of STATUS: health counters, the sequencer and every slot's CRC."""

    boot_id: int
    uptime_ms: int
    temperature_c: float
    active_crc: int
    shadow_crc: int
    latch_count: int
    crc_errors: int
    framing_errors: int
    overruns: int
    naks: int
    seq_state: int
    seq_mode: int
    seq_position: int
    seq_steps: int
    seq_missed: int
    watchdog_ms: int
    safe_mode: bool
    slots: tuple

    S: ClassVar[struct.Struct] = struct.Struct("<IIhIIIIIIIBBHIIHBH")
    SLOT: ClassVar[struct.Struct] = struct.Struct("<BI")

    def pack(self) -> bytes:
        head = self.S.pack(
            self.boot_id,
            self.uptime_ms,
            int(round(self.temperature_c * 100)),
            self.active_crc,
            self.shadow_crc,
            self.latch_count,
            self.crc_errors,
            self.framing_errors,
            self.overruns,
            self.naks,
            self.seq_state,
            self.seq_mode,
            self.seq_position,
            self.seq_steps,
            self.seq_missed,
            self.watchdog_ms,
            int(self.safe_mode),
            len(self.slots),
        )
        return head + b"".join(self.SLOT.pack(int(s.valid), s.crc) for s in self.slots)

    @classmethod
    def unpack(cls, body: bytes) -> StatusInfo:
        if len(body) < cls.S.size:
            raise BodyError("STATUS reply too short")
        v = list(cls.S.unpack_from(body))
        n = v[-1]
        if len(body) != cls.S.size + n * cls.SLOT.size:
            raise BodyError("STATUS reply length does not match its slot count")
        slots = tuple(SlotInfo(bool(a), b) for a, b in cls.SLOT.iter_unpack(body[cls.S.size :]))
        v[2] = v[2] / 100.0
        v[16] = bool(v[16])
        return cls(*v[:-1] + [slots])
