"""PhaseConfig: the one description of a SIM configuration that crosses every boundary.

A configuration is an integer code per layer and meta-atom, ``codes[l, row, col]`` in
0 .. 2^bits - 1, meaning the phase ``code * 2 pi / 2^bits``. It carries metadata (name,
objective, the model or calibration it was trained on, creation time, free-form extras) and a
content hash over (bits, shape, codes) only, so the same pattern has the same hash whatever its
metadata: that hash is what boards and the daemon use to recognise a configuration.

File format (version 1): one line of canonical JSON (sorted keys, no spaces) ending in a newline::

    {"bits":2,"codes":"<base64 of little-endian uint16 codes, C order>","format":"simhw.phase_config",
     "hash":"<sha256 hex>","metadata":{...},"shape":[L,rows,cols],"version":1}

Writing the same configuration twice gives identical bytes, and load(save(c)) == c exactly.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simhw.values.files import write_atomic

__all__ = ["PhaseConfig", "PhaseConfigError", "FORMAT_NAME", "FORMAT_VERSION", "METADATA_FIELDS"]

METADATA_FIELDS = ("name", "objective", "model_id", "created_at", "extra")  # a configuration's, beside its codes

FORMAT_NAME = "simhw.phase_config"
FORMAT_VERSION = 1
MAX_BITS = 16
_HASH_DOMAIN = b"simhw.phase_config/1\0"


class PhaseConfigError(ValueError):
    """A phase configuration, or a file claiming to hold one, is not valid. The message says why."""


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise PhaseConfigError(f"bits must be an integer, got {type(bits).__name__} {bits!r}")
    if not 1 <= int(bits) <= MAX_BITS:
        raise PhaseConfigError(f"bits must be in 1..{MAX_BITS}, got {bits}")
    return int(bits)


def _check_codes(codes, bits: int) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise PhaseConfigError(f"codes must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise PhaseConfigError(f"codes must have shape (layers, rows, cols), got {arr.ndim} dimensions {arr.shape}")
    if 0 in arr.shape:
        raise PhaseConfigError(f"codes must not be empty, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise PhaseConfigError("codes contain NaN or infinite values")
        if not np.all(arr == np.round(arr)):
            raise PhaseConfigError("codes must be whole numbers; use PhaseConfig.from_phases for phases in radians")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    hi = arr.max()
    if hi >= (1 << bits) or (arr.dtype.kind != "u" and arr.min() < 0):
        raise PhaseConfigError(
            f"codes out of range for {bits} bits: found values in [{arr.min()}, {hi}], allowed 0..{(1 << bits) - 1}"
        )
    if arr.dtype == np.uint16 and isinstance(_memory_owner(arr), bytes):
        return arr  # decoded from a file or a message: immutable already, no copy
    out = arr.astype(np.uint16)
    out.setflags(write=False)
    return out


def _memory_owner(arr: np.ndarray) -> object:
    owner: object = arr
    while isinstance(owner, np.ndarray):
        owner = owner.base
    return owner


@dataclass(frozen=True, eq=False)
class PhaseConfig:
    """Integer phase codes for every layer and meta-atom, with metadata and a content hash."""

    codes: np.ndarray
    bits: int
    name: str = ""
    objective: str = ""
    model_id: str | None = None
    created_at: str = field(default_factory=_utc_now)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        bits = _check_bits(self.bits)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "codes", _check_codes(self.codes, bits))
        for name in ("name", "objective", "created_at"):
            if not isinstance(getattr(self, name), str):
                raise PhaseConfigError(f"{name} must be a string, got {type(getattr(self, name)).__name__}")
        if self.model_id is not None and not isinstance(self.model_id, str):
            raise PhaseConfigError(f"model_id must be a string or None, got {type(self.model_id).__name__}")
        if not isinstance(self.extra, dict):
            raise PhaseConfigError("extra must be a dict of JSON-serialisable values")
        try:
            if self.extra:
                json.dumps(self.extra, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PhaseConfigError(f"extra must be JSON-serialisable: {exc}") from None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_phases(cls, phases, bits: int, shape: tuple[int, int] | None = None, **metadata) -> PhaseConfig:
        """Quantize phases (rad) to the nearest of 2^bits levels, wrapping modulo 2 pi.

        ``phases`` is (L, rows, cols), or (L, N) together with ``shape=(rows, cols)``.
        """
        bits = _check_bits(bits)
        ph = np.asarray(phases, dtype=float)
        if not np.all(np.isfinite(ph)):
            raise PhaseConfigError("phases contain NaN or infinite values")
        if shape is not None:
            if ph.ndim != 2 or ph.shape[1] != shape[0] * shape[1]:
                raise PhaseConfigError(
                    f"phases of shape {ph.shape} do not fit (L, rows*cols) with rows, cols = {shape}"
                )
            ph = ph.reshape(ph.shape[0], *shape)
        levels = 1 << bits
        codes = np.mod(np.rint(ph * (levels / (2 * math.pi))), levels)
        return cls(codes.astype(np.int64), bits, **metadata)

    @classmethod
    def zeros(cls, layers: int, rows: int, cols: int, bits: int, **metadata) -> PhaseConfig:
        return cls(np.zeros((layers, rows, cols), np.uint16), bits, **metadata)

    @classmethod
    def random(cls, layers: int, rows: int, cols: int, bits: int, seed=None, **metadata) -> PhaseConfig:
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, 1 << _check_bits(bits), (layers, rows, cols)), bits, **metadata)

    # ------------------------------------------------------------------ views
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.codes.shape)

    @property
    def n_layers(self) -> int:
        return self.codes.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.codes.shape[1] * self.codes.shape[2]

    def phases(self) -> np.ndarray:
        """Phases in radians, shape (L, N) with atom n = row * cols + col (the model's layout)."""
        return self.codes.reshape(self.n_layers, -1).astype(float) * (2 * math.pi / (1 << self.bits))

    @property
    def hash(self) -> str:
        """SHA-256 hex digest of (bits, shape, codes): stable across machines and metadata."""
        cached = self.__dict__.get("_hash")
        if cached is None:  # the codes are read-only, so the digest never goes stale
            h = hashlib.sha256(_HASH_DOMAIN)
            h.update(np.array([self.bits, *self.shape], dtype="<u4").tobytes())
            h.update(np.ascontiguousarray(self.codes, dtype="<u2").tobytes())
            cached = h.hexdigest()
            object.__setattr__(self, "_hash", cached)
        return cached

    def same_pattern(self, other: PhaseConfig) -> bool:
        return self.bits == other.bits and self.shape == other.shape and np.array_equal(self.codes, other.codes)

    def __eq__(self, other):
        if not isinstance(other, PhaseConfig):
            return NotImplemented
        return self.same_pattern(other) and self.metadata == other.metadata

    def __hash__(self):
        return hash(self.hash)

    @property
    def metadata(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in METADATA_FIELDS}

    def replace(self, **changes) -> PhaseConfig:
        return dataclasses.replace(self, **changes)

    def __repr__(self):
        return f"PhaseConfig(name={self.name!r}, shape={self.shape}, bits={self.bits}, hash={self.hash[:12]}…)"

    # ------------------------------------------------------------------ serialisation
    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "bits": self.bits,
            "shape": list(self.shape),
            "codes": base64.b64encode(np.ascontiguousarray(self.codes, dtype="<u2").tobytes()).decode("ascii"),
            "hash": self.hash,
            "metadata": self.metadata,
        }
        return (
            json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False) + "\n"
        ).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> PhaseConfig:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PhaseConfigError(f"not a phase-config file: invalid JSON ({exc})") from None
        except RecursionError:
            raise PhaseConfigError("not a phase-config file: JSON nested too deeply") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise PhaseConfigError(f"not a phase-config file: 'format' is not {FORMAT_NAME!r}")
        version = doc.get("version")
        if version != FORMAT_VERSION:
            raise PhaseConfigError(
                f"unsupported phase-config format version {version!r}; this simhw reads version {FORMAT_VERSION}"
            )
        missing = [k for k in ("bits", "shape", "codes", "hash", "metadata") if k not in doc]
        if missing:
            raise PhaseConfigError(f"phase-config file lacks field(s) {missing}")
        shape = doc["shape"]
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape)):
            raise PhaseConfigError(f"phase-config 'shape' must be three positive integers, got {shape!r}")
        try:
            raw = base64.b64decode(doc["codes"], validate=True)
        except (ValueError, TypeError) as exc:
            raise PhaseConfigError(f"phase-config 'codes' is not valid base64 ({exc})") from None
        if len(raw) != 2 * shape[0] * shape[1] * shape[2]:
            raise PhaseConfigError(
                f"phase-config 'codes' holds {len(raw) // 2} values, shape {shape} needs "
                f"{shape[0] * shape[1] * shape[2]}"
            )
        codes = np.frombuffer(raw, dtype="<u2").reshape(shape)
        meta = doc["metadata"]
        if not isinstance(meta, dict):
            raise PhaseConfigError("phase-config 'metadata' must be an object")
        unknown = set(meta) - set(METADATA_FIELDS)
        if unknown:
            raise PhaseConfigError(f"phase-config metadata has unknown field(s) {sorted(unknown)}")
        config = cls(codes, doc["bits"], **meta)
        if config.hash != doc["hash"]:
            raise PhaseConfigError("phase-config content does not match its hash (file corrupted or edited)")
        return config

    def save(self, path: str | os.PathLike) -> str:
        """Write the configuration file atomically (temporary file, then rename); returns the hash."""
        write_atomic(path, lambda fh: fh.write(self.to_bytes()))
        return self.hash

    @classmethod
    def load(cls, path: str | os.PathLike) -> PhaseConfig:
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())
