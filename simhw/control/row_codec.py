"""A record's values as its table keeps them, and back, by the column's type (:mod:`simhw.values.records`).

Arrays are .npy bytes (no pickles), JSON columns JSON text, booleans integers in SQLite; a NULL reads
back as None, or as the column's ``empty`` JSON. The bench store and the lab decode with the same functions.
"""

from __future__ import annotations

import io
import json

import numpy as np

from simhw.values.records import Column, Record

__all__ = ["blob", "codes_blob", "decode", "decode_row", "encode", "unblob"]


def blob(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def unblob(b) -> np.ndarray:
    return np.load(io.BytesIO(bytes(b)), allow_pickle=False)


_npy_heads: dict = {}


def codes_blob(codes: np.ndarray) -> bytes:
    """A config's codes as .npy bytes (what :func:`blob` writes), with the header made once per shape."""
    head = _npy_heads.get(codes.shape)
    if head is None:
        head = _npy_heads[codes.shape] = blob(np.zeros(codes.shape, np.uint16))[: -2 * codes.size]
    return head + np.ascontiguousarray(codes, dtype="<u2").tobytes()


def _plain(o):
    """JSON for what json does not know: a NumPy scalar as its number, anything else as its text."""
    return o.item() if isinstance(o, np.generic) else str(o)


def encode(column: Column, value):
    """``value`` as the bench store keeps it in ``column`` (None in a JSON column that takes no NULL: null)."""
    if value is None and (column.null or not column.json):
        return None
    if column.json:
        return json.dumps(value, default=_plain)
    if column.type == "array":
        return value if isinstance(value, bytes) else blob(np.asarray(value))
    if column.type == "bool":
        return int(bool(value))
    return value


def decode(column: Column, value, lab: bool = False):
    """A stored value of ``column`` as Python; ``lab``: read from the lab, where jsonb arrives decoded."""
    if value is None:
        return None if column.empty is None else json.loads(column.empty)
    if column.json and not (lab and column.type == "json"):
        return json.loads(value)
    if column.type == "array":
        return unblob(value)
    if column.type == "bool":
        return bool(value)
    if column.type == "bytes":
        return bytes(value)
    return value


def decode_row(rec: Record, names, row, lab: bool = False) -> dict:
    """A row read as ``names`` (columns of ``rec``) as a dict of Python values."""
    return {n: decode(rec.column(n), v, lab) for n, v in zip(names, row)}
