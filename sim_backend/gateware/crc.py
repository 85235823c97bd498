"""CRC-32 (ISO-HDLC, reflected, polynomial 0xEDB88320), one byte per clock, as combinational logic.

The register starts at 0xFFFFFFFF and is not inverted at the end: the frame CRC sent is its
complement, and a frame received with its CRC appended leaves ``RESIDUE`` in it. The byte step is
linear over GF(2), so each next-state bit is the parity of a fixed set of register and data bits;
the sets are worked out once here, which keeps the logic one XOR tree per bit.
"""

from __future__ import annotations

from functools import cache

from amaranth.hdl import Cat

__all__ = ["crc32_byte", "INIT", "RESIDUE"]

POLY = 0xEDB88320
INIT = 0xFFFFFFFF
RESIDUE = 0xDEBB20E3


def _step(crc: int, byte: int) -> int:
    crc ^= byte
    for _ in range(8):
        crc = (crc >> 1) ^ (POLY if crc & 1 else 0)
    return crc


@cache
def _masks() -> tuple:
    """For each next-state bit: (register bits, data bits) whose parity it is."""
    cols_c = [_step(1 << b, 0) for b in range(32)]
    cols_d = [_step(0, 1 << b) for b in range(8)]
    return tuple(
        (sum(1 << b for b in range(32) if cols_c[b] >> j & 1), sum(1 << b for b in range(8) if cols_d[b] >> j & 1))
        for j in range(32)
    )


def crc32_byte(crc, byte):
    """The CRC register after ``byte`` (8 bits) entered ``crc`` (32 bits)."""
    return Cat(*[(crc & mc).xor() ^ (byte & md).xor() for mc, md in _masks()])
