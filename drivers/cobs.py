"""Consistent Overhead Byte Stuffing ([9] COBS, in the reference list of docs/physics.md).

COBS removes every 0x00 from a frame so that 0x00 can delimit frames on a byte stream: a receiver
that loses or corrupts bytes resynchronises at the next delimiter. Overhead is one byte per 254.
"""

from __future__ import annotations

__all__ = ["cobs_encode", "cobs_decode", "CobsError"]


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def cobs_encode(data: bytes) -> bytes:
    """Encode ``data``; the result contains no 0x00 byte (the delimiter is not appended).

    A frame with k zeros has k+1 zero-free runs; each becomes a code byte (run length + 1) and the
    run, and a run of 254 or more bytes is cut into 0xFF blocks, which imply no zero."""
    out = bytearray()
    for block in bytes(data).split(b"\x00"):
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS frame (without its delimiter); raises CobsError if it is malformed."""
    out = bytearray()
    i, n = 0, len(data)
    if n == 0:
        raise CobsError("empty COBS frame")
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"zero byte inside a COBS frame at offset {i}")
        end = i + code
        if end > n:
            raise CobsError(f"COBS block at offset {i} runs past the end of the frame")
        block = data[i + 1 : end]
        if 0 in block:
            raise CobsError("zero byte inside a COBS block")
        out += block
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)
