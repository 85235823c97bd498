"""Bluesky plans over the simhw devices (:mod:`simhw.integrations.ophyd`)."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from simhw.values.phase_config import PhaseConfig

__all__ = ["scan_configs", "calibrate"]


def scan_configs(board, vna, configs, md: dict | None = None):
    """One run: for each configuration (a :class:`PhaseConfig`, or a stored name or hash), set the board
    (the push is verified before the plan goes on), trigger the VNA and read both into one event."""
    configs = list(configs)
    refs = [c.hash if isinstance(c, PhaseConfig) else c for c in configs]
    meta = {
        "plan_name": "scan_configs",
        "detectors": [vna.name],
        "motors": [board.name],
        "num_points": len(configs),
        "configs": refs,
        **(md or {}),
    }

    @bpp.run_decorator(md=meta)
    def inner():
        for config in configs:
            yield from bps.mv(board, config)
            yield from bps.trigger_and_read([board, vna])

    return (yield from inner())


def calibrate(calibration, stream: str = "calibration"):
    """Plan stub: run a calibration (a :class:`~simhw.integrations.ophyd.SimCalibration`) to its end and
    read its record into ``stream`` (inside an open run)."""
    yield from bps.kickoff(calibration, wait=True)
    yield from bps.complete(calibration, wait=True)
    yield from bps.trigger_and_read([calibration], name=stream)
