"""Calibrated models of every family, built from a small geometry with drawn blocks (no calibration run)."""

import numpy as np

from calibration.calibrated import CalibratedModel
from simhw.physics.geometry import SimGeometry
from simhw.physics.multiport.network import from_cascade
from simhw.physics.propagation import Cascade, cascade_matrices

BITS = 2


def small_geometry(layers=3, side=3, freqs=(27.8e9, 28.0e9, 28.2e9), outputs=2):
    g = SimGeometry.uniform(layers, side, side, frequency=28e9, thickness=0.008, n_inputs=1, n_outputs=outputs)
    return g.with_frequencies(np.asarray(freqs))


def family_model(family: str, seed: int = 0, reflection: float = 0.02) -> CalibratedModel:
    """A model with every block the named family's calibration returns, with drawn values: the cascade
    families (``physical`` nominal atoms; ``hybrid`` one code-level table; ``free`` a perturbed cascade)
    and ``multiport`` (faces reflecting ``reflection`` and coupling neighbours, one level table per atom), each
    with leakage. A multiport model calibrated on the simulated bench has faces near 0.002."""
    rng = np.random.default_rng(seed)
    g = small_geometry()
    c = cascade_matrices(g)
    F, P = c.w_out.shape[:2]
    L, N, K = g.n_layers, g.n_atoms, 1 << BITS
    leak = 1e-3 * (rng.normal(size=(F, P)) + 1j * rng.normal(size=(F, P)))
    table = np.exp(rng.normal(0, 0.1, K) + 1j * rng.normal(0, 0.3, K))
    faces = None
    if family in ("free", "multiport"):  # fitted gaps: no longer the symmetric ideal ones
        c = Cascade(c.w_in, c.w_layers * (1 + 0.1 * rng.normal(size=c.w_layers.shape)), c.w_out, c.frequencies)
    if family in ("free", "physical"):
        table = None
    elif family == "multiport":
        faces = np.stack([from_cascade(c, 0, reflection, 0.3 * reflection, band=3).face] * L)
        table = np.exp(rng.normal(0, 0.1, (L, N, K)) + 1j * rng.normal(0, 0.3, (L, N, K)))
    return CalibratedModel(c, np.zeros(3), family, {}, atom_response=table, leakage=leak, faces=faces)


FAMILIES = ("physical", "hybrid", "free", "multiport")
