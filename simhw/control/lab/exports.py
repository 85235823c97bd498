"""Lab records as the files people use: Touchstone, xarray Datasets and NetCDF, CSV.

- :func:`to_touchstone`: one measurement as a ``.sNp`` file (Touchstone 1.1, what scikit-rf reads).
- :func:`measurements_dataset`: a series of measurements on one frequency grid as an
  ``xarray.Dataset`` with ``s`` (time, frequency, port), coordinates ``time`` (UTC datetimes; ``epoch_s``
  the same in seconds since the epoch), ``frequency`` (Hz), ``port`` (the S-parameter names), ``config``
  (the hash each sweep was labelled with), ``bench``, ``measurement``, ``snapshot``, every further column
  the measurement description exports (:mod:`simhw.values.records`) and ``model_calibration`` (-1: no
  calibrated model yet) per time, and attributes (each bench's bench file, software versions, record kind).
- :func:`calibration_dataset`: a calibration's stages (held-out and fit NMSE, slots, seconds per stage).
- :func:`to_netcdf`: a Dataset to NetCDF; complex variables are stored as ``<name>_real`` and
  ``<name>_imag`` (NetCDF has no complex type) and :func:`open_netcdf` joins them again.
- :func:`to_csv`: records as a table (scalar fields; arrays and bench files left out).
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from simhw.values.measurement import Measurement
from simhw.values.records import RECORDS

__all__ = ["to_touchstone", "measurements_dataset", "calibration_dataset", "to_netcdf", "open_netcdf", "to_csv"]


def to_touchstone(record: dict, path: str | os.PathLike) -> str:
    """Write one measurement record (from :meth:`LabStore.query`) as Touchstone; returns the path."""
    prov = record.get("provenance", {})
    m = Measurement.from_record(record, record["frequencies"], record["s"])
    m.settings = {
        "bench": record["bench"],
        "software": prov.get("software", ""),
        **{k: v for k, v in m.settings.items() if not isinstance(v, (dict, list))},
    }
    return m.to_touchstone(path)


def measurements_dataset(records: list):
    """Measurement records (one frequency grid, the same parameters) as an ``xarray.Dataset``, oldest first."""
    import xarray as xr

    if not records:
        raise ValueError("no measurements to export")
    recs = sorted(records, key=lambda r: (r["created_at"], r["bench"], r["id"]))
    sweeps = [Measurement.from_record(r, r["frequencies"], r["s"]) for r in recs]
    freqs, params = sweeps[0].frequencies, sweeps[0].params
    for r, m in zip(recs, sweeps):
        if not np.array_equal(m.frequencies, freqs) or m.params != params:
            raise ValueError(
                f"measurement {r['bench']}/{r['id']} has another frequency grid or other parameters; "
                "export series of one sweep setup"
            )
    t = np.array([m.created_at for m in sweeps])
    prov = [r.get("provenance", {}) for r in recs]
    bench_files: dict = {}
    for r, p in zip(recs, prov):  # each bench's bench file (its latest, oldest first), none dropped
        bench_files[r["bench"]] = p.get("bench_file", "")
    ds = xr.Dataset(
        {"s": (("time", "frequency", "port"), np.stack([m.s for m in sweeps]))},
        coords={
            "time": (t * 1e9).astype("datetime64[ns]"),
            "epoch_s": ("time", t),
            "frequency": freqs,
            "port": list(params),
            "bench": ("time", [r["bench"] for r in recs]),
            **_per_sweep(recs),
            "model_calibration": (
                "time",
                [-1 if p.get("model_calibration") is None else p["model_calibration"] for p in prov],
            ),
        },
        attrs={
            "kind": "simhw measurement series",
            "software": sorted({p.get("software", "") for p in prov}),
            "bench_files": bench_files,
            "benches": sorted(bench_files),
        },
    )
    ds["frequency"].attrs["units"] = "Hz"
    ds["epoch_s"].attrs["long_name"] = "seconds since 1970-01-01 UTC (time as a number)"
    ds["snapshot"].attrs["long_name"] = "the bench's snapshot (its bench file and software); -1: none recorded"
    ds["model_calibration"].attrs["long_name"] = (
        "the bench's calibration whose model was in use; -1: no calibrated model yet"
    )
    return ds


_MISSING = {"text": "", "int": -1, "id": -1, "real": np.nan}  # a coordinate's value where a record has none


def _per_sweep(recs: list) -> dict:
    """The coordinates over ``time`` the measurement description asks for (its columns' ``export``)."""
    return {
        c.export: ("time", [_MISSING[c.type] if r.get(c.name) is None else r[c.name] for r in recs])
        for c in RECORDS["measurement"].columns
        if c.export
    }


def calibration_dataset(record: dict):
    """One calibration record's stages as an ``xarray.Dataset`` over ``stage``."""
    import xarray as xr

    stages = record.get("stages") or []
    metrics = record.get("metrics") or {}
    idx = [s["stage"] for s in stages]
    data = {
        k: ("stage", [s.get(k) if s.get(k) is not None else np.nan for s in stages])
        for k in ("slots", "seconds", "fit_nmse_db", "heldout_nmse_db", "radius")
    }
    prov = record.get("provenance", {})
    return xr.Dataset(
        data,
        coords={"stage": idx},
        attrs={
            "kind": "simhw calibration",
            "bench": record["bench"],
            "calibration": record["id"],
            "protocol": record["protocol"],
            "status": record["status"],
            "reason": record.get("reason") or "",
            "metrics": json.dumps(metrics, default=str),
            "software": prov.get("software", ""),
            "bench_file": prov.get("bench_file", ""),
            "model_version": record["id"],
        },
    )


def to_netcdf(ds, path: str | os.PathLike) -> str:
    """Write ``ds`` as NetCDF (complex variables split into real and imaginary parts)."""
    out = ds.copy()
    for name in list(out.data_vars):
        if np.iscomplexobj(out[name].values):
            out[name + "_real"], out[name + "_imag"] = out[name].real, out[name].imag
            out[name + "_real"].attrs["complex"] = out[name + "_imag"].attrs["complex"] = name
            out = out.drop_vars(name)
    out.attrs = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in out.attrs.items()}
    out.to_netcdf(path)
    return os.fspath(path)


def open_netcdf(path: str | os.PathLike):
    """A Dataset written by :func:`to_netcdf`, its complex variables joined again."""
    import xarray as xr

    ds = xr.open_dataset(path).load()
    if "bench_files" in ds.attrs:
        ds.attrs["bench_files"] = json.loads(ds.attrs["bench_files"])
    for name in [n for n in map(str, ds.data_vars) if n.endswith("_real") and "complex" in ds[n].attrs]:
        base = ds[name].attrs["complex"]
        ds[base] = ds[name] + 1j * ds[base + "_imag"]
        ds = ds.drop_vars([name, base + "_imag"])
    return ds


def to_csv(records: list, path: str | os.PathLike) -> str:
    """Records as CSV: every scalar field (JSON for small dicts and lists), arrays and blobs left out, and
    the provenance's bench file too (the ``snapshot`` column names it: ``simhw lab query snapshot``)."""
    records = [
        dict(r, provenance={k: v for k, v in r["provenance"].items() if k != "bench_file"})
        if isinstance(r.get("provenance"), dict)
        else r
        for r in records
    ]
    keys: list = []
    for r in records:
        for k, v in r.items():
            if k not in keys and not isinstance(v, (np.ndarray, bytes, bytearray, memoryview)):
                keys.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, keys, extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow(
                {k: json.dumps(v, default=str) if isinstance(v, (dict, list)) else v for k, v in r.items() if k in keys}
            )
    return os.fspath(path)
