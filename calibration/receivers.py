"""The receive side of a calibration fit, eliminated in closed form (variable projection).

Seed 002 (sec. III) fits one complex gain per frequency to the end-to-end responses. A real
bench needs more (docs/physics.md, sec. 6): every receive port has its own cable, connector and
VNA receiver tracking (a complex gain per frequency and port), and some of the feed's power
reaches the receive antennas without passing the SIM (leakage around the fixture, multipath off
the room), which adds the same complex term to every configuration. ``receivers`` picks how much
of this the fit solves for, per frequency, given the modelled responses:

``gain``  one complex gain per frequency ([3] Interlayer error calibration's model): y = g_f h.
``port``  a gain and an additive leakage per frequency and receive port: y_p = g_fp h_p + a_fp.
``free``  every receive port's complex weight on every last-layer atom, plus the leakage:
          y_p = sum_n B_fpn z_n + a_fp, z the field leaving the last layer. This also absorbs the
          receive horns' patterns and the placement of the receive antennas, at N + 1 unknowns
          per port and frequency (the model's output matrix becomes B).

Each is linear least squares in its unknowns, so the fit's loss is a function of the cascade alone
and, by the envelope theorem, its gradient is the partial gradient at the optimal receive terms:
:func:`receive_cotangent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhw.values.bench_choices import RECEIVERS

__all__ = ["RECEIVERS", "ReceiverFit", "fit_receivers", "receive_cotangent", "receiver_unknowns"]


@dataclass
class ReceiverFit:
    """Closed-form receive terms for modelled responses h and their prediction of y."""

    mode: str
    prediction: np.ndarray  # (T, F, P)
    gain: np.ndarray | None = None  # (F,) for "gain", (F, P) for "port"
    w_out: np.ndarray | None = None  # (F, P, N) for "free"
    leakage: np.ndarray | None = None  # (F, P) for "port" and "free"


def receiver_unknowns(mode: str, frequencies: int, ports: int, atoms: int) -> int:
    """Real unknowns the receive terms add to a fit."""
    per = {"gain": 2 * frequencies, "port": 4 * frequencies * ports, "free": 2 * frequencies * ports * (atoms + 1)}
    return per[mode]


def _ridge_solve(a: np.ndarray, b: np.ndarray, ridge: float) -> np.ndarray:
    """Batched least squares min ||a x - b||^2 + sum_i lam_i |x_i|^2, lam_i = ridge x column i's energy
    (scale-free: columns as different as a response and a constant are damped alike)."""
    ah = np.conj(np.swapaxes(a, -1, -2))
    gram = ah @ a
    n = gram.shape[-1]
    lam = ridge * np.maximum(np.diagonal(gram, axis1=-2, axis2=-1).real, 1e-300)
    return np.linalg.solve(gram + lam[..., None, :] * np.eye(n), ah @ b)


def fit_receivers(mode: str, h: np.ndarray, y: np.ndarray, ridge: float = 1e-9) -> ReceiverFit:
    """Receive terms for modelled responses ``h`` and data ``y`` (T, F, P).

    ``h`` is (T, F, P) for "gain" and "port" and the last layer's outgoing field (T, F, N) for "free".
    """
    if mode == "gain":
        g = np.einsum("tfp,tfp->f", np.conj(h), y) / np.maximum(np.einsum("tfp,tfp->f", np.conj(h), h).real, 1e-300)
        return ReceiverFit(mode, h * g[None, :, None], gain=g)
    T = h.shape[0]
    ones = np.ones((T,) + h.shape[1:-1] + (1,), complex)
    if mode == "port":
        a = np.stack([h, np.broadcast_to(ones, h.shape)], axis=-1).transpose(1, 2, 0, 3)  # (F, P, T, 2)
        coef = _ridge_solve(a, y.transpose(1, 2, 0)[..., None], ridge)[..., 0]  # (F, P, 2)
        g, leak = coef[..., 0], coef[..., 1]
        return ReceiverFit(mode, h * g[None] + leak[None], gain=g, leakage=leak)
    if mode == "free":
        a = np.concatenate([h, ones], axis=-1).transpose(1, 0, 2)  # (F, T, N + 1)
        coef = _ridge_solve(a, y.transpose(1, 0, 2), ridge)  # (F, N + 1, P)
        w_out, leak = np.swapaxes(coef[:, :-1], 1, 2), coef[:, -1]
        return ReceiverFit(mode, np.einsum("tfn,fpn->tfp", h, w_out) + leak[None], w_out=w_out, leakage=leak)
    raise ValueError(f"receivers must be one of {RECEIVERS}, got {mode!r}")


def receive_cotangent(fit: ReceiverFit, resid: np.ndarray) -> np.ndarray:
    """d(sum |resid|^2)/dh* / 2 at the optimal receive terms: the gradient flowing back into the model."""
    if fit.mode == "gain":
        return resid * np.conj(fit.gain)[None, :, None]
    if fit.mode == "port":
        return resid * np.conj(fit.gain)[None]
    return np.einsum("tfp,fpn->tfn", resid, np.conj(fit.w_out))
