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

from calibration.calibrated import CalibratedModel
from drivers.bench import open_devices
from sim_backend.bench import SimBench
from simhw.control.bench_service import BenchService
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig
from simhw.values.measurement import Measurement

__all__ = ["Bench", "open_bench"]


class Bench:
    """``bench.measure()`` is the daemon's measure path (:meth:`BenchService.measure`): the same labels, the
    same flags, the board's latch report. ``store`` None: measurements are kept in memory only."""

    def __init__(self, config, board, vna, store, simulation=None):
        self.config, self.board, self.vna, self.store = config, board, vna, store
        self.simulation = simulation  # the SimBench when simulated (its ``truth`` is the simulated SIM)
        self.service = BenchService(config, board, vna, store if store is not None else Store(":memory:"))
        self.service.start(take_over=False)  # a daemon may own this store's calibrations: none is touched

    def push(self, config) -> str:
        """Show ``config`` on the board (verified by readback; not re-applied if the board is verified to show
        it already); recorded in the store; returns its hash."""
        return self.service.push(config, "python")["hash"]

    def measure(self) -> Measurement:
        """Sweep as the bench file says, store and return the :class:`~simhw.values.measurement.Measurement`."""
        return self.service.measure()

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
