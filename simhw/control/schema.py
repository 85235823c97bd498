"""The control-plane message schema (version 1): JSON header frame plus raw array frames.

Sans-I/O: turns a multipart message (a list of bytes frames) into a :class:`Message` and back,
never touching a socket; the daemon and the client share it. Layout of every message::

    frame 0   b"simhw/1"                       magic and schema version
    frame 1   UTF-8 JSON object (the header)   at most MAX_HEADER bytes
    frame 2.. one raw little-endian C-order array per entry of header["arrays"]

Header keys: ``op`` (request) or ``ok`` (reply: true/false), ``id`` (the client's request id,
echoed in the reply, a string of at most 64 characters), ``arrays``: a list of
``{"dtype": ..., "shape": [...]}`` describing the array frames, plus the operation's fields.
An error reply carries ``error`` = {"code": ..., "message": ...}. Only the dtypes in DTYPES are
accepted; nothing is ever unpickled. See docs/control.md for the operations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "MAGIC",
    "SCHEMA_VERSION",
    "Message",
    "RequestError",
    "SchemaError",
    "encode",
    "decode",
    "request",
    "reply",
    "error_reply",
    "DTYPES",
    "MAX_HEADER",
    "MAX_ARRAY_BYTES",
    "ERROR_CODES",
]

SCHEMA_VERSION = 1
MAGIC = b"simhw/1"
MAX_HEADER = 64 * 1024
MAX_ARRAY_BYTES = 64 * 1024 * 1024
MAX_ARRAYS = 16
DTYPES = {"<u1", "<u2", "<u4", "<i4", "<i8", "<f4", "<f8", "<c8", "<c16"}
ERROR_CODES = (
    "bad_message",
    "unsupported_version",
    "unknown_op",
    "bad_request",
    "not_found",
    "busy",
    "hardware",
    "verify_failed",
    "cancelled",
    "internal",
    "unauthorized",
    "store_full",
)


class RequestError(ValueError):
    """A request the daemon refuses; ``code`` (one of ERROR_CODES) goes into the error reply."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class SchemaError(RequestError):
    """A message does not follow the schema."""


@dataclass
class Message:
    header: dict
    arrays: list = field(default_factory=list)

    @property
    def op(self) -> str | None:
        return self.header.get("op")

    @property
    def id(self) -> str | None:
        return self.header.get("id")

    @property
    def ok(self) -> bool:
        return bool(self.header.get("ok"))


def _dtype_str(a: np.ndarray) -> str:
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    s = dt.str
    if s.startswith("|"):
        s = "<" + s[1:]
    return s


def encode(header: dict, arrays=()) -> list[bytes]:
    """A message as frames; arrays are sent little-endian, C order."""
    arrays = [np.asarray(a) for a in arrays]
    head = dict(header)
    head["arrays"] = []
    frames = []
    for a in arrays:
        dt = _dtype_str(a)
        if dt not in DTYPES:
            raise SchemaError("bad_message", f"arrays of dtype {a.dtype} cannot be sent")
        head["arrays"].append({"dtype": dt, "shape": list(a.shape)})
        frames.append(np.ascontiguousarray(a, dtype=np.dtype(dt)).tobytes())
    raw = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    if len(raw) > MAX_HEADER:
        raise SchemaError("bad_message", f"header of {len(raw)} bytes exceeds {MAX_HEADER}")
    return [MAGIC, raw, *frames]


def decode(frames: list) -> Message:
    """Parse and validate frames; raises SchemaError with a code and a reason."""
    if not frames:
        raise SchemaError("bad_message", "empty message")
    magic = bytes(frames[0])
    if magic != MAGIC:
        if magic.startswith(b"simhw/"):
            raise SchemaError(
                "unsupported_version",
                f"schema {magic[6:].decode(errors='replace')!r} is not supported; this side speaks {SCHEMA_VERSION}",
            )
        raise SchemaError("bad_message", "not a simhw message (bad magic frame)")
    if len(frames) < 2:
        raise SchemaError("bad_message", "missing header frame")
    raw = bytes(frames[1])
    if len(raw) > MAX_HEADER:
        raise SchemaError("bad_message", f"header of {len(raw)} bytes exceeds {MAX_HEADER}")
    try:
        head = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise SchemaError("bad_message", f"header is not JSON: {e}") from None
    except RecursionError:
        raise SchemaError("bad_message", "header is nested too deeply") from None
    if not isinstance(head, dict):
        raise SchemaError("bad_message", "header must be a JSON object")
    rid = head.get("id")
    if rid is not None and not (isinstance(rid, str) and len(rid) <= 64):
        raise SchemaError("bad_message", "id must be a string of at most 64 characters")
    specs = head.get("arrays", [])
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise SchemaError("bad_message", f"arrays must be a list of at most {MAX_ARRAYS} descriptions")
    if len(frames) != 2 + len(specs):
        raise SchemaError("bad_message", f"header describes {len(specs)} arrays, message has {len(frames) - 2}")
    arrays = []
    for spec, frame in zip(specs, frames[2:]):
        if not (
            isinstance(spec, dict)
            and spec.get("dtype") in DTYPES
            and isinstance(spec.get("shape"), list)
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in spec["shape"])
            and len(spec["shape"]) <= 8
        ):
            raise SchemaError("bad_message", f"bad array description {spec!r}")
        dt = np.dtype(spec["dtype"])
        count = math.prod(spec["shape"])  # Python integers: a huge shape cannot overflow into a small one
        if count * dt.itemsize > MAX_ARRAY_BYTES:
            raise SchemaError("bad_message", f"array of {count * dt.itemsize} bytes exceeds {MAX_ARRAY_BYTES}")
        buf = bytes(frame)
        if len(buf) != count * dt.itemsize:
            raise SchemaError(
                "bad_message", f"array frame has {len(buf)} bytes, description needs {count * dt.itemsize}"
            )
        arrays.append(np.frombuffer(buf, dtype=dt).reshape(spec["shape"]).copy())
    return Message(head, arrays)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def request(op: str, rid: str, arrays=(), **fields) -> list[bytes]:
    return encode({"op": op, "id": rid, **fields}, arrays)


def reply(rid: str | None, arrays=(), **fields) -> list[bytes]:
    return encode({"ok": True, "id": rid, **fields}, arrays)


def error_reply(rid: str | None, code: str, message: str) -> list[bytes]:
    if code not in ERROR_CODES:
        code = "internal"
    return encode({"ok": False, "id": rid, "error": {"code": code, "message": message[:2000]}})
