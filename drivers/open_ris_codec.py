"""The open-source 16x16 1-bit RIS's ASCII protocol: a sans-I/O codec (drivers.open_ris has the protocol).

Shared by the driver (:mod:`drivers.open_ris`) and the simulated firmware (:mod:`sim_backend.ris_firmware`).
Element n = 16 * row + col is bit (255 - n) of the big-endian 256-bit number.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "ROWS",
    "COLS",
    "BANNER_END",
    "PATTERN_REPLY",
    "VEXT_REPLY",
    "pattern_hex",
    "encode_pattern",
    "decode_pattern",
]

ROWS = COLS = 16
BANNER_END = b"#READY!"
PATTERN_REPLY = re.compile(rb"^#0X([0-9A-F]{64})$")
VEXT_REPLY = re.compile(rb"^#(\d+\.\d\d) V$")


def pattern_hex(bits: np.ndarray) -> str:
    """(16, 16) array of 0/1 -> 64 upper-case hex digits (element 0 = MSB)."""
    flat = np.asarray(bits, dtype=np.uint8).reshape(-1)
    if flat.size != ROWS * COLS or np.any(flat > 1):
        raise ValueError("the open-source RIS takes exactly 256 one-bit elements")
    return np.packbits(flat, bitorder="big").tobytes().hex().upper()


def encode_pattern(bits: np.ndarray) -> bytes:
    """The set-pattern command for a (16, 16) 0/1 array."""
    return b"!0X" + pattern_hex(bits).encode("ascii") + b"\n"


def decode_pattern(hex_digits: str | bytes) -> np.ndarray:
    """64 hex digits -> (16, 16) uint16 array of 0/1."""
    if isinstance(hex_digits, bytes):
        hex_digits = hex_digits.decode("ascii")
    raw = bytes.fromhex(hex_digits)
    if len(raw) != 32:
        raise ValueError("a pattern is 64 hex digits")
    return np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="big").astype(np.uint16).reshape(ROWS, COLS)
