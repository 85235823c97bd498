"""The Python API a notebook user starts from: one bench, its devices, its store and its model.

    import simhw

    with simhw.open_bench("bench.toml") as bench:     # or no argument: the embedded simulated bench
        bench.push(config)                           # written, latched and verified by readback
        m = bench.measure()                          # a Measurement (Touchstone export, S-matrix)
        model = bench.model                          # the newest calibrated model in the store, or None

These are the same objects the CLI and the daemon use: ``bench.board`` and ``bench.vna`` are the
drivers of ``drivers.bench.open_devices``, ``bench.store`` is the daemon's store at ``daemon.store``
of the bench file. A bench file with "sim" resources starts the simulated bench for the block.
Do not open the same hardware here and in a running daemon at once: the daemon owns it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from drivers.bench import open_devices
from drivers.capabilities import SettingsReport
from sim_backend.bench import SimBench
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["Bench", "open_bench"]


class Bench:
    def __init__(self, config, board, vna, store, simulation=None):
        self.config, self.board, self.vna, self.store = config, board, vna, store
        self.simulation = simulation  # the SimBench when simulated (its ``truth`` is the simulated SIM)
        self._params = config.vna_params()

    def push(self, config) -> str:
        """Show ``config`` on the board (verified by readback); recorded in the store; returns its hash."""
        h = self.board.push(config)
        if self.store is not None:
            self.store.record_pushes([(config, "python", None, True)])
        return h

    def measure(self):
        """Sweep as the bench file says and return a :class:`~simhw.values.measurement.Measurement`."""
        f = self.config.frequencies()
        s = self.config.sweep
        self.vna.configure(float(f[0]), float(f[-1]), int(f.size), s.ifbw, s.power, self._params)
        data = self.vna.measure()
        cfg_hash = PhaseConfig(self.board.read_active(), self.board.info.bits).hash
        settings = self.vna.measurement_settings() if isinstance(self.vna, SettingsReport) else \
            {"ifbw": s.ifbw, "power": s.power}
        m = Measurement(cfg_hash, self.vna.frequencies(), np.stack([data[p] for p in self._params], axis=-1),
                        self.config.receive_vna_ports(), settings=settings)
        if self.store is not None:
            self.store.put_measurement(cfg_hash, None, list(self._params), m.frequencies, m.s, settings=settings)
        return m

    @property
    def model(self):
        """The newest calibrated model in the store (:class:`calibration.calibrated.CalibratedModel`), or None."""
        if self.store is None:
            return None
        blob = self.store.latest_model()
        if blob is None:
            return None
        return CalibratedModel.from_bytes(blob)


@contextlib.contextmanager
def open_bench(bench: str | os.PathLike | None = None, store: bool = True):
    """Open the bench described by ``bench`` (a TOML path or a BenchConfig; None: the embedded
    simulated bench) and yield a :class:`Bench`; everything is closed when the block ends."""

    if bench is None:
        cfg = BenchConfig(name="simulated")
    elif isinstance(bench, BenchConfig):
        cfg = bench
    else:
        cfg = BenchConfig.load(Path(bench))
    with contextlib.ExitStack() as stack:
        sim = None
        resolved = cfg
        if cfg.simulated:
            sim = stack.enter_context(SimBench(cfg))
            resolved = sim.resolved_config()
        board, vna = stack.enter_context(open_devices(resolved))
        st = None
        if store:
            st = Store(cfg.daemon.store, cfg.daemon.durability)
            stack.callback(st.close)
        yield Bench(resolved, board, vna, st, sim)
