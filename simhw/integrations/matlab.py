"""MATLAB files (.mat, version 5, through ``scipy.io``): configurations, measurements and calibrated models.

Every file holds ``format`` ('simhw.mat/1') and ``kind`` ('configs', 'measurement' or 'model'). Arrays
keep their axes in the order simhw documents them, so element ``codes(r, c, l, t)`` in MATLAB is
``codes[r-1, c-1, l-1, t-1]`` here; metadata travel as one JSON text (``jsondecode`` in MATLAB).

- configs: ``codes`` rows x cols x layers x T, the board's code values 0 .. 2^bits - 1 (phase =
  2 pi code / 2^bits; codes are values, not indices, so they are not shifted to 1-based), ``bits``,
  ``names`` (1 x T cell), ``hashes`` (1 x T cell, what simhw computed; a reader recomputes them),
  ``metadata`` (1 x T cell of JSON objects with keys among ``objective``, ``model_id``,
  ``created_at``, ``extra``; the name is in ``names``). MATLAB code may instead write ``layers``, a
  1 x L cell of rows x cols code matrices (one configuration), and ``codes``/``layers`` in double
  precision.
- measurement: ``frequencies`` F x 1 (Hz), ``S`` F x P complex (column p: receive port p+1 from the
  test antenna), ``params`` (1 x P cell: 'S21', ...), ``metadata`` (JSON: id, hash, flag, ...).
- model: ``w_in`` F x N x M, ``w_layers`` (L-1) x F x N x N, ``w_out`` F x P x N, ``frequencies``,
  ``x``, ``parameterization``, and where the model has them ``atom_response``, ``leakage`` (F x P:
  the receive-side term added to every response), ``faces`` (L x N x N); ``metrics`` and ``header``
  (version, parent, geometry, metrics, hash) as JSON.

Reading checks every variable (:mod:`simhw.integrations.mat_vars`): anything else is refused with a
ValueError naming the file, the variable and what was expected. A path is a MATLAB file when it ends
``.mat`` in any case (:func:`is_mat`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import scipy.io

from calibration.calibrated import OPTIONAL, CalibratedModel
from simhw.integrations.mat_vars import MatFile
from simhw.values.files import write_atomic
from simhw.values.measurement import Measurement
from simhw.values.phase_config import MAX_BITS, METADATA_FIELDS, PhaseConfig, PhaseConfigError

__all__ = [
    "FORMAT",
    "is_mat",
    "check_output",
    "write_configs",
    "read_configs",
    "write_measurement",
    "read_measurement",
    "save_measurement",
    "load_measurement",
    "write_model",
    "read_model",
]

FORMAT = "simhw.mat/1"
MODEL_ARRAYS = ("w_in", "w_layers", "w_out", "frequencies", "x")
HEADER_KEYS = ("format", "parameterization", "geometry", "metrics", "version", "parent", "created_at", "hash")
METADATA_KEYS = tuple(k for k in METADATA_FIELDS if k != "name")  # a configuration's; its name is in 'names'


def is_mat(path) -> bool:
    """Whether a path names a MATLAB file (``.mat``, in any case)."""
    return os.fspath(path).lower().endswith(".mat")


def check_output(path) -> str:
    """Refuse (ValueError) an output path whose directory does not exist or is not one, before any work
    is done for it; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: the directory {folder} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"cannot write {path}: it is a directory")
    return path


def _save(path, kind: str, **variables) -> str:
    path = check_output(path)
    try:
        return write_atomic(
            path,
            lambda f: scipy.io.savemat(
                f, {"format": FORMAT, "kind": kind, **variables}, do_compression=True, oned_as="column"
            ),
        )
    except OSError as e:
        raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None


def _cellstr(items) -> np.ndarray:
    out = np.empty((1, len(items)), dtype=object)
    for i, s in enumerate(items):
        out[0, i] = s
    return out


# ---------------------------------------------------------------- configurations
def write_configs(path, configs) -> str:
    """Write phase configurations of one shape and bit depth; returns the path."""
    configs = [configs] if isinstance(configs, PhaseConfig) else list(configs)
    if not configs:
        raise ValueError("no configurations to write")
    if len({(c.shape, c.bits) for c in configs}) != 1:
        raise ValueError("configurations of one .mat file share their shape and bits: write others to another file")
    codes = np.stack([np.transpose(c.codes, (1, 2, 0)) for c in configs], axis=-1).astype(np.uint16)
    meta = [json.dumps({k: v for k, v in c.metadata.items() if k != "name"}, sort_keys=True) for c in configs]
    return _save(
        path,
        "configs",
        codes=codes,
        bits=float(configs[0].bits),
        names=_cellstr([c.name for c in configs]),
        hashes=_cellstr([c.hash for c in configs]),
        metadata=_cellstr(meta),
    )


def read_configs(path) -> list[PhaseConfig]:
    """Configurations from a .mat file written by :func:`write_configs` or by MATLAB code (module doc)."""
    d = MatFile(path, "configs")
    d.require("bits")
    bits = d.whole("bits").ravel()
    if bits.size != 1 or not 1 <= bits[0] <= MAX_BITS:
        raise d.error("bits", f"one whole number in 1..{MAX_BITS} (the codes' bit depth)")
    codes = _codes(d)
    n = codes.shape[-1]
    names = d.texts("names") if "names" in d else [""] * n
    meta = [_metadata(d, text, t) for t, text in enumerate(d.texts("metadata"))] if "metadata" in d else [{}] * n
    if len(names) != n or len(meta) != n:
        raise ValueError(f"{d.path}: {n} configurations but {len(names)} 'names' and {len(meta)} 'metadata' entries")
    out = []
    for t in range(n):
        try:
            config = PhaseConfig(np.transpose(codes[..., t], (2, 0, 1)), int(bits[0]), name=names[t])
        except PhaseConfigError as e:
            raise ValueError(f"{d.path}: 'codes' of configuration {t + 1}: {e}") from None
        try:
            out.append(config.replace(**meta[t]))
        except PhaseConfigError as e:
            raise ValueError(f"{d.path}: 'metadata' entry {t + 1}: {e}") from None
    return out


def _codes(d: MatFile) -> np.ndarray:
    """rows x cols x layers x configurations, from ``codes`` or a cell ``layers``."""
    if "codes" in d:
        codes = d.whole("codes")
        codes = codes.reshape(codes.shape + (1,) * (4 - codes.ndim)) if codes.ndim in (2, 3) else codes
        if codes.ndim != 4:
            raise d.error("codes", f"rows x cols x layers [x configurations], not of shape {codes.shape}")
        return codes
    if "layers" in d:
        cell = np.asarray(d.vars["layers"])
        if cell.dtype != object:
            raise d.error("layers", "a cell array of rows x cols code matrices", cell)
        layers = [d.whole("layers", m) for m in cell.ravel(order="F")]
        if not layers or len({m.shape for m in layers}) != 1 or layers[0].ndim != 2:
            raise d.error("layers", "a cell of code matrices of one size")
        return np.stack(layers, axis=-1)[..., None]
    raise ValueError(f"{d.path}: no 'codes' or 'layers' variable")


def _metadata(d: MatFile, text: str, t: int) -> dict:
    """One configuration's metadata: a JSON object of PhaseConfig's metadata fields but the name."""
    meta = d.json("metadata", text, t, expected=f"a JSON object with keys among {', '.join(METADATA_KEYS)}")
    unknown = sorted(set(meta) - set(METADATA_KEYS))
    if unknown:
        note = " (a name goes in 'names')" if "name" in unknown else ""
        raise ValueError(
            f"{d.path}: 'metadata' entry {t + 1} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(METADATA_KEYS)}{note}"
        )
    return meta


# ---------------------------------------------------------------- measurements
def write_measurement(path, frequencies, s, metadata: dict | None = None, params=None) -> str:
    """Write one measurement: frequencies (F,), S (F, P), its metadata (JSON-serialisable)."""
    f = np.asarray(frequencies, float).reshape(-1)
    s = np.asarray(s, complex)
    s = s[:, None] if s.ndim == 1 else s
    if s.shape[0] != f.size:
        raise ValueError(f"S has {s.shape[0]} rows for {f.size} frequencies")
    params = list(params) if params is not None else [f"S{p + 2}1" for p in range(s.shape[1])]
    return _save(
        path,
        "measurement",
        frequencies=f[:, None],
        S=s,
        params=_cellstr(params),
        metadata=json.dumps(metadata or {}, sort_keys=True, default=str),
    )


def read_measurement(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(frequencies (F,), S (F, P), metadata) from a .mat file."""
    d = MatFile(path, "measurement")
    d.require("frequencies", "S")
    f = d.numbers("frequencies").reshape(-1)
    s = d.numbers("S", complex)
    if s.ndim != 2 or s.shape[0] != f.size:
        raise d.error("S", f"F x P with F = {f.size} frequencies, not of shape {s.shape}")
    meta = d.json("metadata", d.text("metadata")) if "metadata" in d else {}
    if "params" in d:
        meta.setdefault("params", d.texts("params"))
    return f, s, meta


def save_measurement(path, m: Measurement, extra: dict | None = None) -> str:
    """Write a :class:`Measurement`: its arrays, its parameter names and its record fields (plus ``extra``,
    e.g. a push's acknowledgement or the lab's bench name) as the metadata."""
    return write_measurement(path, m.frequencies, m.s, {**m.record(), **(extra or {})}, m.params)


def load_measurement(path) -> Measurement:
    """A :class:`Measurement` from a .mat file that names its parameters (``params``: 'S21', ...); the
    metadata's record fields (hash, flag, settings, ..) become its fields."""
    f, s, meta = read_measurement(path)
    if "params" not in meta:
        raise ValueError(f"{os.fspath(path)}: no 'params' variable: the receive ports are unknown")
    try:
        return Measurement.from_record(meta, f, s)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None


# ---------------------------------------------------------------- calibrated models
def write_model(path, model: CalibratedModel) -> str:
    """Write a calibrated model: every cascade matrix, the level table, leakage, faces, metrics, header."""
    arrays = model.arrays()
    arrays["frequencies"], arrays["x"] = arrays["frequencies"][:, None], np.asarray(arrays["x"], float)[:, None]
    text = {
        k: json.dumps(v, sort_keys=True, default=_plain)
        for k, v in (("metrics", model.metrics), ("header", model.header()))
    }
    return _save(path, "model", parameterization=model.parameterization, **arrays, **text)


def _plain(v):
    return v.tolist() if isinstance(v, (np.ndarray, np.generic)) else str(v)


def read_model(path) -> CalibratedModel:
    """A calibrated model from a .mat file; its content must match the hash recorded with it."""
    d = MatFile(path, "model")
    missing = [k for k in (*MODEL_ARRAYS, "header") if k not in d]
    if missing:
        raise ValueError(f"{d.path}: not a simhw model (no {', '.join(missing)})")
    head = d.json("header", d.text("header"))
    lacking = [k for k in HEADER_KEYS if k not in head]
    if lacking:
        raise d.error("header", f"a simhw model header with {', '.join(HEADER_KEYS)} (lacks {', '.join(lacking)})")
    arrays = {k: d.numbers(k, complex) for k in ("w_in", "w_layers", "w_out")}
    w_in = arrays["w_in"]
    if arrays["w_layers"].size == 0 and w_in.ndim == 3:  # one layer: MATLAB keeps no empty dimensions' sizes
        arrays["w_layers"] = np.zeros((0, *w_in.shape[:2], w_in.shape[1]), complex)
    arrays["frequencies"], arrays["x"] = d.numbers("frequencies").reshape(-1), d.numbers("x").reshape(-1)
    for k in OPTIONAL:
        if k in d:
            a = d.numbers(k, None)
            arrays[k] = a.reshape(-1) if k == "atom_response" and a.ndim == 2 and 1 in a.shape else a
    return CalibratedModel.from_arrays(arrays, head, d.path)
