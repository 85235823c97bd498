"""Lab records (:meth:`simhw.control.lab.lab_store.LabStore.query`) as MATLAB files: ``simhw lab query
--format mat`` (layout: :mod:`simhw.integrations.matlab`)."""

from __future__ import annotations

from pathlib import Path

from calibration.calibrated import CalibratedModel
from simhw.integrations import matlab
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["mat_export"]


def mat_export(recs: list, kind: str, out: Path) -> list[str]:
    """MATLAB files (simhw.integrations.matlab): one per measurement and per calibration with a model, the
    configurations in one file per shape and bit depth."""
    if kind == "measurement":
        return [
            matlab.save_measurement(
                out / f"{r['bench']}-m{r['id']}.mat",
                Measurement.from_record(r, r["frequencies"], r["s"]),
                {"id": r["id"], "bench": r["bench"]},
            )
            for r in recs
        ]
    if kind == "calibration":
        with_model = [r for r in recs if r["model"] is not None]
        if not with_model:
            raise ValueError("none of these calibrations has a model to export")
        return [
            matlab.write_model(out / f"{r['bench']}-cal{r['id']}.mat", CalibratedModel.from_bytes(r["model"]))
            for r in with_model
        ]
    if kind == "config":
        groups: dict = {}
        for r in recs:  # a config record's metadata is the configuration's file line, as the bench received it
            cfg = PhaseConfig.from_bytes(r["metadata"].encode())
            groups.setdefault((cfg.shape, cfg.bits), []).append(cfg)
        return [
            matlab.write_configs(out / "configs-{}x{}x{}-{}bit.mat".format(*shape, bits), configs)
            for (shape, bits), configs in groups.items()
        ]
    raise ValueError("MATLAB exports are for measurements, calibrations and configurations")
