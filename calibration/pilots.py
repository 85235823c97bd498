"""Pilot configuration designs: which phase codes the SIM shows while it is being measured.

Seed 002 (sec. III-A) uses random configurations, which give diverse observations. Two
structured designs are offered as well:

``balanced``   every atom visits every phase level equally often in each block of 2^bits slots
               (a random Latin design): no atom sits at one level by chance, the per-atom phase
               average is exactly zero over a block.
``d_optimal``  greedy D-optimal selection from a pool of random candidates: each next pilot is the
               one that most increases log det of the Fisher information of the model parameters
               (J^T J, J the response Jacobian at the current estimate), so the observations are
               as well conditioned as the pool allows for that model.

Every design returns integer codes (T, L, N); phases are codes * 2 pi / 2^bits.
"""

from __future__ import annotations

import numpy as np

from calibration.parameterization import Parameterization
from simhw.physics.model import SIMModel

__all__ = ["random_pilots", "balanced_pilots", "d_optimal_pilots", "pilot_design", "DESIGNS"]

DESIGNS = ("random", "balanced", "d_optimal")


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_pilots(slots: int, layers: int, atoms: int, bits: int, seed=None) -> np.ndarray:
    """Independent uniform codes."""
    return _rng(seed).integers(0, 1 << bits, (slots, layers, atoms)).astype(np.uint16)


def balanced_pilots(slots: int, layers: int, atoms: int, bits: int, seed=None) -> np.ndarray:
    """Each atom takes every level once per block of 2^bits slots, in an independent random order."""
    rng, q = _rng(seed), 1 << bits
    blocks = -(-slots // q)
    keys = rng.random((blocks, q, layers, atoms))
    order = np.argsort(keys, axis=1)  # a random permutation of the q levels per block and atom
    return order.reshape(blocks * q, layers, atoms)[:slots].astype(np.uint16)


def _jacobian(par: Parameterization, x: np.ndarray, theta: np.ndarray, frequencies, step: float = 1e-3) -> np.ndarray:
    """(B, 2 F P, n) Jacobian of the end-to-end responses w.r.t. normalised parameters (central differences)."""
    cols = []
    for i in range(par.n_params):
        e = np.zeros(par.n_params)
        e[i] = step * par.scale[i]
        hp = SIMModel(par.cascade(x + e, frequencies)).response(theta)[..., 0]
        hm = SIMModel(par.cascade(x - e, frequencies)).response(theta)[..., 0]
        d = ((hp - hm) / (2 * step)).reshape(theta.shape[0], -1)
        cols.append(np.concatenate([d.real, d.imag], axis=1))
    if par.channel == "physical":  # the test channel's complex gain per frequency is a nuisance parameter
        h = SIMModel(par.cascade(x, frequencies)).response(theta)[..., 0]  # (B, F, P)
        for f in range(h.shape[1]):
            for unit in (1.0, 1j):
                d = np.zeros_like(h)
                d[:, f] = unit * h[:, f]
                d = d.reshape(theta.shape[0], -1)
                cols.append(np.concatenate([d.real, d.imag], axis=1))
    return np.stack(cols, axis=-1)


def d_optimal_pilots(
    slots: int, par: Parameterization, bits: int, x=None, frequencies=None, pool: int = 2000, seed=None
) -> np.ndarray:
    """Greedy D-optimal pilots for ``par`` at ``x`` (default the ideal model), picked from ``pool`` random ones.

    The Fisher information M = sum_t J_t^T J_t; candidate c adds log det(I + J_c M^-1 J_c^T).
    """
    if par.n_params > 200:
        raise ValueError(f"D-optimal design needs a compact model; {par.name} has {par.n_params} parameters")
    L, N = par.ideal.n_layers, par.ideal.n_atoms
    cand = random_pilots(max(pool, slots), L, N, bits, seed)
    theta = cand * (2 * np.pi / (1 << bits))
    x = par.initial() if x is None else par.check(x)
    freqs = par.ideal.frequencies if frequencies is None else frequencies
    jac = _jacobian(par, x, theta, freqs)  # (C, m, n)
    n = jac.shape[-1]
    info = 1e-9 * np.trace(np.einsum("cmi,cmj->ij", jac, jac)) / n * np.eye(n)
    chosen = np.zeros(cand.shape[0], bool)
    picks = []
    for _ in range(slots):
        inv = np.linalg.inv(info)
        small = np.einsum("cmi,ij,ckj->cmk", jac, inv, jac)
        gain = np.linalg.slogdet(np.eye(small.shape[1]) + small)[1]
        gain[chosen] = -np.inf
        c = int(np.argmax(gain))
        chosen[c] = True
        picks.append(c)
        info = info + jac[c].T @ jac[c]
    return cand[picks]


def pilot_design(name: str, slots: int, par: Parameterization, bits: int, seed=None, **kw) -> np.ndarray:
    """Codes (slots, L, N) of the design called ``name`` (see :data:`DESIGNS`)."""
    L, N = par.ideal.n_layers, par.ideal.n_atoms
    if slots < 1:
        raise ValueError(f"need at least one pilot slot, got {slots}")
    if name == "random":
        return random_pilots(slots, L, N, bits, seed)
    if name == "balanced":
        return balanced_pilots(slots, L, N, bits, seed)
    if name == "d_optimal":
        return d_optimal_pilots(slots, par, bits, seed=seed, **kw)
    raise ValueError(f"unknown pilot design {name!r}; choose one of {DESIGNS}")
