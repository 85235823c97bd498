"""SMP, the SIM metasurface board protocol: a sans-I/O codec shared by the driver and the firmware.

Specified in docs/protocol.md; the message table there is checked against :data:`MESSAGES` by a
test. This module turns bytes into :class:`SMPMessage` objects and back and never touches a port;
message bodies are the typed classes of :mod:`drivers.smp_messages`, sequencer modes and states
the enums of :mod:`drivers.sequence`.

Frame on the wire: ``COBS(header | body | crc32) 0x00``

    header  = magic "SM" (2 bytes) | version u8 | type u8 | seq u16 LE | length u16 LE
    crc32   = CRC-32 (ISO-HDLC, zlib) of header + body, u32 LE

All integers are little-endian. Codes are bit-packed, B bits per atom, LSB first (atom i occupies
bits i*B .. i*B+B-1 of the little-endian bit stream).
"""

from __future__ import annotations

import enum
import struct
import zlib
from typing import NamedTuple

import numpy as np

from drivers.cobs import CobsError, cobs_decode, cobs_encode
from drivers.smp_messages import Commit, Hello, Read, SeqArm, Slot, SlotStoreBody, WatchdogBody, Write

__all__ = [
    "MAGIC",
    "PROTOCOL_VERSION",
    "HEADER",
    "MsgType",
    "NakCode",
    "EventKind",
    "SMPMessage",
    "FrameError",
    "FrameDecoder",
    "encode_frame",
    "decode_payload",
    "pack_codes",
    "unpack_codes",
    "pattern_crc",
    "MESSAGES",
    "FIXED_REQUEST_BODY",
    "write_capacity",
    "NakError",
    "random_layer_codes",
    "random_sequence_patterns",
]

MAGIC = b"SM"
PROTOCOL_VERSION = 2
VERSIONS = (1, 2)  # what this codec speaks: version 1 boards have no capability field
HEADER = struct.Struct("<2sBBHH")
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size
DEFAULT_MAX_FRAME = 1024  # largest header + body + crc a board accepts


class MsgType(enum.IntEnum):
    HELLO = 0x01
    WRITE = 0x02
    COMMIT = 0x03
    READ = 0x04
    SLOT_STORE = 0x05
    SLOT_LOAD = 0x06
    SEQ_DEFINE = 0x07
    SEQ_ARM = 0x08
    SEQ_START = 0x09
    SEQ_STOP = 0x0A
    SEQ_STEP = 0x0B
    STATUS = 0x0C
    RESET = 0x0D
    PING = 0x0E
    WATCHDOG = 0x0F
    SEQ_RANDOM = 0x10
    ACK = 0x80
    NAK = 0x81
    EVENT = 0xC0


REQUEST_TYPES = frozenset(t for t in MsgType if t < 0x80)
# The body size of every request whose body has one fixed size (from its class in drivers.smp_messages);
# WRITE and SEQ_DEFINE have a head (Write.HEAD, SeqDefine.N) and a variable part, HELLO version 1 none.
FIXED_REQUEST_BODY = {
    MsgType.HELLO: Hello.S.size,
    MsgType.COMMIT: Commit.S.size,
    MsgType.READ: Read.S.size,
    MsgType.SLOT_STORE: SlotStoreBody.S.size,
    MsgType.SLOT_LOAD: Slot.S.size,
    MsgType.SEQ_ARM: SeqArm.S.size,
    MsgType.SEQ_START: 0,
    MsgType.SEQ_STOP: 0,
    MsgType.SEQ_STEP: 0,
    MsgType.STATUS: 0,
    MsgType.RESET: 0,
    MsgType.PING: 0,
    MsgType.WATCHDOG: WatchdogBody.S.size,
}


class NakCode(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_ARGUMENT = 3
    CRC_MISMATCH = 4
    BUSY = 5
    BAD_VERSION = 6
    NO_SUCH_SLOT = 7
    EMPTY_SLOT = 8
    SEQ_STATE = 9
    NOT_A_REQUEST = 10
    UNSUPPORTED = 11


class EventKind(enum.IntEnum):
    BOOT = 1
    TRIGGER = 2
    FAULT = 3
    WATCHDOG = 4
    FRAME_ERROR = 5


# The message table: (type, direction, request body, ACK body). docs/protocol.md mirrors it.
MESSAGES = [
    (MsgType.HELLO, "host->board", "session u32 (version 1: empty)", "HelloInfo"),
    (MsgType.WRITE, "host->board", "layer u8, offset u16, count u16, packed codes", "(empty)"),
    (MsgType.COMMIT, "host->board", "expected shadow crc u32", "active crc u32, latch count u32"),
    (MsgType.READ, "host->board", "bank u8 (0 shadow, 1 active), layer u8, offset u16, count u16", "packed codes"),
    (MsgType.SLOT_STORE, "host->board", "slot u16, expected shadow crc u32", "slot crc u32"),
    (MsgType.SLOT_LOAD, "host->board", "slot u16", "active crc u32, latch count u32"),
    (MsgType.SEQ_DEFINE, "host->board", "n u16, n x slot u16", "(empty)"),
    (MsgType.SEQ_ARM, "host->board", "mode u8 (0 host, 1 trigger, 2 timer), loop u8, period us u32", "(empty)"),
    (MsgType.SEQ_START, "host->board", "(empty)", "position u16, steps u32"),
    (MsgType.SEQ_STOP, "host->board", "(empty)", "position u16, steps u32"),
    (MsgType.SEQ_STEP, "host->board", "(empty)", "position u16, steps u32"),
    (MsgType.STATUS, "host->board", "(empty)", "StatusInfo"),
    (MsgType.RESET, "host->board", "(empty)", "(empty), then EVENT BOOT"),
    (MsgType.PING, "host->board", "(empty)", "(empty)"),
    (MsgType.WATCHDOG, "host->board", "timeout ms u16 (0 = off)", "(empty)"),
    (MsgType.SEQ_RANDOM, "host->board", "base slot u16, layer u8, seed u64", "(empty)"),
    (MsgType.ACK, "board->host", "reply body, seq echoes the request", "-"),
    (MsgType.NAK, "board->host", "code u8, detail u16", "-"),
    (MsgType.EVENT, "board->host", "kind u8, boot id u32, data u32 (own seq counter)", "-"),
]


class FrameError(ValueError):
    """A frame that cannot be trusted: bad COBS, short, bad magic or CRC. Carries a ``kind``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class NakError(RuntimeError):
    """The board refused a request with a NAK."""

    def __init__(self, request: MsgType, code: int, detail: int = 0):
        try:
            name = NakCode(code).name
        except ValueError:
            name = f"code {code}"
        super().__init__(f"board refused {request.name}: {name} (detail {detail})")
        self.request, self.code, self.detail = request, code, detail


class SMPMessage(NamedTuple):
    """One SMP message: type, sequence number, body, protocol version."""

    type: int
    seq: int
    body: bytes = b""
    version: int = PROTOCOL_VERSION

    @property
    def is_request(self) -> bool:
        return self.type in REQUEST_TYPES


def encode_frame(msg: SMPMessage) -> bytes:
    """An SMP message -> delimited wire frame."""
    if not 0 <= msg.seq <= 0xFFFF:
        raise ValueError(f"seq must be a u16, got {msg.seq}")
    if len(msg.body) > 0xFFFF:
        raise ValueError("body longer than 65535 bytes")
    head = HEADER.pack(MAGIC, msg.version, msg.type, msg.seq, len(msg.body)) + msg.body
    return cobs_encode(head + CRC.pack(zlib.crc32(head))) + b"\x00"


def decode_payload(encoded: bytes) -> SMPMessage:
    """One COBS-encoded frame (delimiter stripped) -> SMPMessage, or FrameError."""
    try:
        raw = cobs_decode(encoded)
    except CobsError as exc:
        raise FrameError("cobs", str(exc)) from None
    if len(raw) < OVERHEAD:
        raise FrameError("short", f"frame of {len(raw)} bytes is shorter than header + crc")
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC.size)
    if zlib.crc32(raw[: -CRC.size]) != crc:
        raise FrameError("crc", "frame CRC mismatch")
    magic, version, mtype, seq, length = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise FrameError("magic", f"bad magic {magic!r}")
    body = raw[HEADER.size : -CRC.size]
    if length != len(body):
        raise FrameError("length", f"header says {length} body bytes, frame has {len(body)}")
    return SMPMessage(mtype, seq, bytes(body), version)


class FrameDecoder:
    """Incremental decoder: feed bytes, get Messages and FrameErrors in arrival order.

    Bytes before the first delimiter after a (re)start are still tried as a frame. Frames longer
    than ``max_encoded`` are discarded up to the next delimiter and reported as 'overrun'.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME):
        self.max_encoded = max_frame + max_frame // 254 + 2
        self._buf = bytearray()
        self._overrun = False

    def reset(self):
        self._buf.clear()
        self._overrun = False

    def feed(self, data: bytes) -> list[SMPMessage | FrameError]:
        out: list[SMPMessage | FrameError] = []
        start = 0
        while True:
            idx = data.find(b"\x00", start)
            chunk = data[start:] if idx < 0 else data[start:idx]
            if not self._overrun:
                self._buf += chunk
                if len(self._buf) > self.max_encoded:
                    self._overrun = True
                    self._buf.clear()
            if idx < 0:
                return out
            if self._overrun:
                out.append(FrameError("overrun", "frame longer than the maximum frame size"))
            elif self._buf:
                try:
                    out.append(decode_payload(bytes(self._buf)))
                except FrameError as exc:
                    out.append(exc)
            self._buf.clear()
            self._overrun = False
            start = idx + 1


# ---------------------------------------------------------------------------- codes
def pack_codes(codes, bits: int) -> bytes:
    """Bit-pack integer codes, B bits each, LSB first."""
    c = np.asarray(codes).reshape(-1)
    if c.size and int(c.max()) >= (1 << bits):
        raise ValueError(f"code {int(c.max())} does not fit in {bits} bits")
    if bits in _WHOLE_BYTE:  # several codes per byte: shift and add, no bit planes
        per = 8 // bits
        groups = np.zeros(-(-c.size // per) * per, np.uint8)
        groups[: c.size] = c
        return (groups.reshape(-1, per) << _SHIFTS[bits]).sum(axis=1, dtype=np.uint8).tobytes()
    c = c.astype(np.uint32)
    bitplanes = ((c[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(bitplanes.reshape(-1), bitorder="little").tobytes()


def unpack_codes(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: the first ``count`` codes as uint16."""
    need = (count * bits + 7) // 8
    if len(data) < need:
        raise ValueError(f"{len(data)} bytes hold fewer than {count} codes of {bits} bits")
    raw = np.frombuffer(data, np.uint8, need)
    if bits in _WHOLE_BYTE:
        return ((raw[:, None] >> _SHIFTS[bits]) & ((1 << bits) - 1)).reshape(-1)[:count].astype(np.uint16)
    flat = np.unpackbits(raw, bitorder="little")[: count * bits]
    weights = 1 << np.arange(bits, dtype=np.uint32)
    return (flat.reshape(count, bits).astype(np.uint32) @ weights).astype(np.uint16)


_WHOLE_BYTE = (1, 2, 4, 8)
_SHIFTS = {b: np.arange(0, 8, b, dtype=np.uint8) for b in _WHOLE_BYTE}


def pattern_crc(codes, bits: int) -> int:
    """CRC-32 of all layers' codes packed in layer-major order (what COMMIT and slots check)."""
    return zlib.crc32(pack_codes(codes, bits))


def write_capacity(max_frame: int, bits: int) -> int:
    """How many atoms one WRITE frame can carry."""
    return ((max_frame - OVERHEAD - Write.HEAD.size) * 8) // bits


# ---------------------------------------------------------------------------- random sequences
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea and Flood, OOPSLA 2014) on uint64 arrays."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def random_layer_codes(seed: int, steps, n_atoms: int, bits: int) -> np.ndarray:
    """Codes of the randomised layer at sequence steps ``steps`` (SEQ_RANDOM): (len(steps), n_atoms).

    code[k, n] = top ``bits`` bits of splitmix64(seed XOR (k * n_atoms + n)) (uint64 arithmetic):
    a counter-based generator, so the host computes any step's codes without the board sending them.
    """
    steps = np.atleast_1d(np.asarray(steps, np.uint64))
    idx = steps[:, None] * np.uint64(n_atoms) + np.arange(n_atoms, dtype=np.uint64)[None, :]
    z = _splitmix64(idx ^ np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF))
    return (z >> np.uint64(64 - bits)).astype(np.uint16)


def random_sequence_patterns(base, layer: int, seed: int, steps, bits: int) -> np.ndarray:
    """(len(steps), *base.shape) patterns a SEQ_RANDOM sequence on ``base`` (L, rows, cols) shows."""
    base = np.asarray(base, np.uint16)
    steps = np.atleast_1d(np.asarray(steps))
    out = np.repeat(base.reshape(1, base.shape[0], -1), steps.size, axis=0)
    out[:, layer] = random_layer_codes(seed, steps, out.shape[2], bits)
    return out.reshape(steps.size, *base.shape)
