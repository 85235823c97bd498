"""Shared by the VNA tests: a simulated bench with a given VNA model, a plain device under test, and a
simulated instrument served with a pyvisa-py session to it."""

from __future__ import annotations

import contextlib

import numpy as np
import pyvisa

from sim_backend.vna import make_instrument
from sim_backend.vna_tcp import VNAServer
from simhw.values.bench_config import BenchConfig


def vna_bench(family: str, model: str, noise: bool = False, **sim) -> BenchConfig:
    """The default simulated bench with the VNA of ``model`` and ``[simulation]`` keys ``sim``."""
    cfg = BenchConfig()
    cfg.vna.family, cfg.vna.model = family, model
    cfg.simulation.noise = noise
    for k, v in sim.items():
        setattr(cfg.simulation, k, v)
    return cfg


class DelayLine:
    """A 4-port whose S-parameters are plain functions of frequency: 1 <-> 2 a delay line of
    amplitude 0.5 and ``delay`` seconds, S11 = 0.1."""

    def __init__(self, delay: float = 1e-9):
        self.delay = delay

    def s_params(self, f):
        f = np.asarray(f, float)
        s = np.zeros((f.size, 4, 4), complex)
        s[:, 1, 0] = s[:, 0, 1] = 0.5 * np.exp(-2j * np.pi * f * self.delay)
        s[:, 0, 0] = 0.1
        return s


@contextlib.contextmanager
def served(model: str, server=VNAServer, dut=None, **kw):
    """A simulated instrument of ``model`` (measuring ``dut``, a DelayLine by default, no noise) behind
    ``server`` (a class or a factory of the instrument), and a pyvisa-py session to it: (instrument, session)."""
    inst = make_instrument(model, dut or DelayLine(), noise=False, **kw)
    srv = server(inst).start()
    r = pyvisa.ResourceManager("@py").open_resource(
        srv.resource, read_termination="\n", write_termination="\n", timeout=5000
    )
    try:
        yield inst, r
    finally:
        r.close()
        srv.stop()
