"""MATLAB files (.mat, version 5, through ``scipy.io``): configurations, measurements and calibrated models.

Every file holds ``format`` ('simhw.mat/1') and ``kind`` ('configs', 'measurement' or 'model'). Arrays
keep their axes in the order simhw documents them, so element ``codes(r, c, l, t)`` in MATLAB is
``codes[r-1, c-1, l-1, t-1]`` here; metadata travel as one JSON text (``jsondecode`` in MATLAB).

- configs: ``codes`` rows x cols x layers x T, the board's code values 0 .. 2^bits - 1 (phase =
  2 pi code / 2^bits; codes are values, not indices, so they are not shifted to 1-based), ``bits``,
  ``names`` (1 x T cell), ``hashes`` (1 x T cell, what simhw computed; a reader recomputes them),
  ``metadata`` (1 x T cell of JSON). MATLAB code may instead write ``layers``, a 1 x L cell of
  rows x cols code matrices (one configuration), and ``codes``/``layers`` in double precision.
- measurement: ``frequencies`` F x 1 (Hz), ``S`` F x P complex (column p: receive port p+1 from the
  test antenna), ``params`` (1 x P cell: 'S21', ...), ``metadata`` (JSON: id, hash, flag, ...).
- model: ``w_in`` F x N x M, ``w_layers`` (L-1) x F x N x N, ``w_out`` F x P x N, ``frequencies``,
  ``x``, ``parameterization``, and where the model has them ``atom_response``, ``leakage`` (F x P:
  the receive-side term added to every response), ``faces`` (L x N x N); ``metrics`` and ``header``
  (version, parent, geometry, metrics, hash) as JSON.
"""

from __future__ import annotations

import json
import os

import numpy as np
import scipy.io

from calibration.calibrated import CalibratedModel
from simhw.physics.propagation import Cascade
from simhw.values.phase_config import PhaseConfig, PhaseConfigError

__all__ = ["FORMAT", "write_configs", "read_configs", "write_measurement", "read_measurement", "write_model",
           "read_model"]

FORMAT = "simhw.mat/1"
MODEL_ARRAYS = ("w_in", "w_layers", "w_out", "frequencies", "x")
MODEL_OPTIONAL = ("atom_response", "leakage", "faces")


def _save(path, kind: str, **variables) -> str:
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        scipy.io.savemat(f, {"format": FORMAT, "kind": kind, **variables}, do_compression=True, oned_as="column")
    os.replace(tmp, path)
    return path


def _load(path, kind: str | None) -> dict:
    try:
        d = scipy.io.loadmat(os.fspath(path), chars_as_strings=True)
    except (OSError, ValueError, NotImplementedError, TypeError) as e:
        raise ValueError(f"{path} is not a readable MATLAB file: {e}") from None
    found = _text(d["kind"]) if "kind" in d else None
    if kind is not None and found is not None and found != kind:
        raise ValueError(f"{path} holds a simhw {found}, not a {kind}")
    return d


def _text(v) -> str:
    a = np.asarray(v)
    if a.dtype == object:
        a = np.asarray(a.ravel()[0]) if a.size == 1 else a
    if a.dtype.kind != "U":
        raise ValueError(f"expected text, got an array of {a.dtype}")
    return "".join(a.ravel().tolist())


def _cell(v) -> list:
    a = np.asarray(v)
    if a.dtype != object:
        return [_text(a)]
    return [_text(x) for x in a.ravel(order="F")]


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
    return _save(path, "configs", codes=codes, bits=float(configs[0].bits), names=_cellstr([c.name for c in configs]),
                 hashes=_cellstr([c.hash for c in configs]), metadata=_cellstr(meta))


def read_configs(path) -> list[PhaseConfig]:
    """Configurations from a .mat file written by :func:`write_configs` or by MATLAB code (module doc)."""
    d = _load(path, "configs")
    if "bits" not in d:
        raise ValueError(f"{path}: no 'bits' variable (the codes' bit depth)")
    bits = _integral(d["bits"], "bits").ravel()
    if bits.size != 1:
        raise ValueError(f"{path}: 'bits' must be one number, got {bits.size}")
    if "codes" in d:
        codes = _integral(d["codes"], "codes")
        if codes.ndim == 2:
            codes = codes[:, :, None]
        if codes.ndim == 3:
            codes = codes[..., None]
        if codes.ndim != 4:
            raise ValueError(f"{path}: 'codes' must be rows x cols x layers [x configurations], got {codes.shape}")
    elif "layers" in d:
        layers = [_integral(m, "layers") for m in np.asarray(d["layers"], dtype=object).ravel(order="F")]
        if not layers or len({m.shape for m in layers}) != 1 or layers[0].ndim != 2:
            raise ValueError(f"{path}: 'layers' must be a cell of code matrices of one size")
        codes = np.stack(layers, axis=-1)[..., None]
    else:
        raise ValueError(f"{path}: no 'codes' or 'layers' variable")
    n = codes.shape[-1]
    names = _cell(d["names"]) if "names" in d else [""] * n
    meta = [json.loads(m) for m in _cell(d["metadata"])] if "metadata" in d else [{}] * n
    if len(names) != n or len(meta) != n:
        raise ValueError(f"{path}: {n} configurations but {len(names)} names and {len(meta)} metadata entries")
    try:
        return [PhaseConfig(np.transpose(codes[..., t], (2, 0, 1)), int(bits[0]), name=names[t], **meta[t])
                for t in range(n)]
    except PhaseConfigError as e:
        raise ValueError(f"{path}: {e}") from None


def _integral(v, what: str) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"'{what}' must be numeric, got {a.dtype}")
    if a.dtype.kind == "f" and not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
        raise ValueError(f"'{what}' must hold whole numbers")
    return a.astype(np.int64)


# ---------------------------------------------------------------- measurements
def write_measurement(path, frequencies, s, metadata: dict | None = None, params=None) -> str:
    """Write one measurement: frequencies (F,), S (F, P), its metadata (JSON-serialisable)."""
    f = np.asarray(frequencies, float).reshape(-1)
    s = np.asarray(s, complex)
    s = s[:, None] if s.ndim == 1 else s
    if s.shape[0] != f.size:
        raise ValueError(f"S has {s.shape[0]} rows for {f.size} frequencies")
    params = list(params) if params is not None else [f"S{p + 2}1" for p in range(s.shape[1])]
    return _save(path, "measurement", frequencies=f[:, None], S=s, params=_cellstr(params),
                 metadata=json.dumps(metadata or {}, sort_keys=True, default=str))


def read_measurement(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(frequencies (F,), S (F, P), metadata) from a .mat file."""
    d = _load(path, "measurement")
    missing = [k for k in ("frequencies", "S") if k not in d]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} variable")
    f = np.asarray(d["frequencies"], float).reshape(-1)
    s = np.asarray(d["S"], complex)
    if s.ndim != 2 or s.shape[0] != f.size:
        raise ValueError(f"{path}: S must be F x P with F = {f.size} frequencies, got {s.shape}")
    meta = json.loads(_text(d["metadata"])) if "metadata" in d else {}
    if "params" in d:
        meta.setdefault("params", _cell(d["params"]))
    return f, s, meta


# ---------------------------------------------------------------- calibrated models
def write_model(path, model: CalibratedModel) -> str:
    """Write a calibrated model: every cascade matrix, the level table, leakage, faces, metrics, header."""
    c = model.cascade
    arrays = dict(w_in=c.w_in, w_layers=c.w_layers, w_out=c.w_out, frequencies=c.frequencies[:, None],
                  x=np.asarray(model.x, float)[:, None])
    arrays.update({k: getattr(model, k) for k in MODEL_OPTIONAL if getattr(model, k) is not None})
    text = {k: json.dumps(v, sort_keys=True, default=_plain) for k, v in
            (("metrics", model.metrics), ("header", model.header()))}
    return _save(path, "model", parameterization=model.parameterization, **arrays, **text)


def _plain(v):
    return v.tolist() if isinstance(v, (np.ndarray, np.generic)) else str(v)


def read_model(path) -> CalibratedModel:
    """A calibrated model from a .mat file; its content must match the hash recorded with it."""
    d = _load(path, "model")
    missing = [k for k in (*MODEL_ARRAYS, "header") if k not in d]
    if missing:
        raise ValueError(f"{path}: not a simhw model (no {', '.join(missing)})")
    head = json.loads(_text(d["header"]))
    w_layers = np.asarray(d["w_layers"], complex)
    w_in = np.asarray(d["w_in"], complex)
    if w_layers.size == 0:  # one layer: MATLAB keeps no empty dimensions' sizes reliably
        w_layers = np.zeros((0, w_in.shape[0], w_in.shape[1], w_in.shape[1]), complex)
    cascade = Cascade(w_in, w_layers, np.asarray(d["w_out"], complex), np.asarray(d["frequencies"], float).reshape(-1))
    opt = {}
    for k in MODEL_OPTIONAL:
        if k in d:
            a = np.asarray(d[k])
            opt[k] = a.reshape(-1) if k == "atom_response" and a.ndim == 2 and 1 in a.shape else a
    m = CalibratedModel(cascade, np.asarray(d["x"], float).reshape(-1), head["parameterization"], head["geometry"],
                        head["metrics"], head["version"], head["parent"], head["created_at"], **opt)
    if m.hash != head["hash"]:
        raise ValueError(f"{path}: content does not match its recorded hash (edited, or not written by simhw)")
    return m
