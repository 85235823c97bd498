"""Calibration metrics ([3] Interlayer error calibration, sec. IV): per-layer and test-channel NMSE, held-out
prediction NMSE.

Per-layer NMSE compares single propagation matrices, which a free-form estimate only determines
up to the diagonal gauge W_{l+1} D^-1, D W_l (docs/physics.md, sec. 5.2). :func:`align_gauge` finds the
diagonal D per layer and frequency that brings an estimate closest to a reference in least
squares (a walk down the stack, then alternating Gauss-Newton sweeps); metrics can be asked for
after that alignment.
Physical and hybrid estimates carry no such freedom and are compared as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from calibration.data import CalibrationData, applied_phases, level_indices, nmse_db
from simhw.physics.model import SIMModel
from simhw.physics.multiport.batched import NetworkModel
from simhw.physics.propagation import Cascade

__all__ = [
    "TruthMetrics",
    "truth_metrics",
    "prediction_nmse_db",
    "prediction_spread",
    "nmse_interval_db",
    "predicted",
    "align_gauge",
    "end_to_end",
]


@dataclass
class TruthMetrics:
    """NMSE (dB) of each interlayer matrix, of the output matrix and of the test channel."""

    layers: list
    output: float
    channel: float

    @property
    def average(self) -> float:
        return float(np.mean(self.layers)) if self.layers else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["average"] = self.average
        return d


def truth_metrics(estimate: Cascade, truth: Cascade, gauge: bool = False) -> TruthMetrics:
    """Compare an estimated cascade with the true one (known only in simulation)."""
    if estimate.w_layers.shape != truth.w_layers.shape:
        raise ValueError(f"cascades differ in shape: {estimate.w_layers.shape} vs {truth.w_layers.shape}")
    truth1 = Cascade(truth.w_in[..., :1], truth.w_layers, truth.w_out, truth.frequencies)
    est = align_gauge(estimate, truth1) if gauge else estimate
    layers = [nmse_db(est.w_layers[l], truth.w_layers[l]) for l in range(truth.w_layers.shape[0])]
    return TruthMetrics(layers, nmse_db(est.w_out, truth.w_out), nmse_db(est.w_in[..., 0], truth.w_in[..., 0]))


def end_to_end(cascade: Cascade, faces: np.ndarray | None = None):
    """The model a fitted cascade describes: the cascade itself, or with ``faces`` (L, N, N) the
    multiport network of the same blocks (:class:`simhw.physics.multiport.batched.NetworkModel`)."""
    c = Cascade(cascade.w_in[..., :1], cascade.w_layers, cascade.w_out, cascade.frequencies)
    return SIMModel(c) if faces is None else NetworkModel.from_cascade(c, faces)


def predicted(
    cascade: Cascade,
    data: CalibrationData,
    atom_response: np.ndarray | None = None,
    leakage: np.ndarray | None = None,
    faces: np.ndarray | None = None,
) -> np.ndarray:
    """(T, F, P) responses a fitted model predicts for ``data``'s configurations: the cascade (or, with
    ``faces``, the multiport network) with the atoms' fitted code response (per level (K,), or per atom
    and level (L, N, K)) plus the leakage (F, P)."""
    levels = None if atom_response is None else level_indices(data, np.shape(atom_response)[-1])
    theta, amp = applied_phases(data.theta, levels, atom_response)
    out = end_to_end(cascade, faces).response(theta, amp)[..., 0]
    return out if leakage is None else out + leakage[None]


def prediction_nmse_db(
    cascade: Cascade,
    data: CalibrationData,
    atom_response: np.ndarray | None = None,
    leakage: np.ndarray | None = None,
    faces: np.ndarray | None = None,
) -> float:
    """NMSE of the end-to-end responses ``cascade`` (and ``atom_response``) predict for ``data``'s configurations."""
    return nmse_db(predicted(cascade, data, atom_response, leakage, faces), data.y)


def prediction_spread(
    cascade: Cascade,
    data: CalibrationData,
    atom_response: np.ndarray | None = None,
    leakage: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    prefix: str = "heldout",
) -> dict:
    """How the prediction error spreads over ``data``'s configurations: the NMSE of each (dB), summarised as
    its median, standard deviation and worst, and the spread of the predicted received power (dB); what a
    held-out set says of the model's uncertainty."""
    pred = predicted(cascade, data, atom_response, leakage, faces)
    miss, energy = np.sum(np.abs(pred - data.y) ** 2, axis=(1, 2)), np.sum(np.abs(data.y) ** 2, axis=(1, 2))
    per = 10 * np.log10(miss / energy)
    power = 10 * np.log10(np.sum(np.abs(pred) ** 2, axis=(1, 2)) / energy)
    return {
        f"{prefix}_median_db": float(np.median(per)),
        f"{prefix}_spread_db": float(np.std(per)),
        f"{prefix}_worst_db": float(np.max(per)),
        f"{prefix}_power_spread_db": float(np.std(power)),
        f"{prefix}_configs": int(data.slots),
        f"{prefix}_interval_db": nmse_interval_db(miss, energy),
    }


def nmse_interval_db(miss: np.ndarray, energy: np.ndarray, level: float = 0.9, resamples: int = 2000) -> list:
    """The ``level`` bootstrap interval (dB) of a set's NMSE, sum(miss) / sum(energy) over its configurations
    (Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13, percentile interval): how far
    the figure could move on another set of as many configurations. Resampled with a fixed seed, so a
    model's metrics do not change between runs."""
    n = len(miss)
    if n < 2:
        return []
    pick = np.random.default_rng(0).integers(0, n, (resamples, n))
    ratio = miss[pick].sum(axis=1) / np.maximum(energy[pick].sum(axis=1), 1e-300)
    lo, hi = np.quantile(10 * np.log10(np.maximum(ratio, 1e-300)), [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def align_gauge(estimate: Cascade, reference: Cascade, sweeps: int = 8) -> Cascade:
    """The estimate with the diagonal gauge that best matches ``reference`` (end-to-end unchanged).

    Layer l's atoms get a gain d (per frequency): incoming rows (w_in for layer 1, else
    w_layers[l-1]) are multiplied by d, outgoing columns (w_layers[l] or w_out) divided by it.
    """
    w_in, w_layers, w_out = estimate.w_in.copy(), estimate.w_layers.copy(), estimate.w_out.copy()
    L = w_layers.shape[0] + 1

    def incoming(l):
        return (w_in, reference.w_in) if l == 0 else (w_layers[l - 1], reference.w_layers[l - 1])

    def outgoing(l):
        return (w_out, reference.w_out) if l == L - 1 else (w_layers[l], reference.w_layers[l])

    def apply(l, d):
        nonlocal w_in, w_out
        if l == 0:
            w_in = w_in * d[..., None]
        else:
            w_layers[l - 1] = w_layers[l - 1] * d[..., None]
        if l == L - 1:
            w_out = w_out / d[:, None, :]
        else:
            w_layers[l] = w_layers[l] / d[:, None, :]

    # start: walk down the stack, each layer's gain by least squares on its incoming matrix
    for l in range(L):
        a, b = incoming(l)
        d = np.sum(np.conj(a) * b, axis=2) / np.maximum(np.sum(np.abs(a) ** 2, axis=2), 1e-300)
        apply(l, np.where(np.isfinite(d) & (d != 0), d, 1.0))
    for _ in range(sweeps):  # refine: Gauss-Newton on log d for |d a - b|^2 + |e / d - f|^2, layer by layer
        for l in range(L):
            (a, b), (e, f) = incoming(l), outgoing(l)
            d = np.ones(a.shape[:2], complex)
            for _ in range(3):
                j1 = d[..., None] * a
                j2 = -e / d[:, None, :]
                num = np.sum(np.conj(j1) * (j1 - b), axis=2) + np.sum(np.conj(j2) * (-j2 - f), axis=1)
                den = np.sum(np.abs(j1) ** 2, axis=2) + np.sum(np.abs(j2) ** 2, axis=1)
                d = d * np.exp(-num / np.maximum(den, 1e-300))
            apply(l, d)
    return Cascade(w_in, w_layers, w_out, estimate.frequencies)
