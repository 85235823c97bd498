"""How well pilots can pin the physical parameters down: Fisher information and the Cramér-Rao bound.

Seed 002 (sec. III) estimates per-layer spacing, offset and rotation p from noisy end-to-end
pilots y_t = g_f u_t(p) + n_t, n ~ CN(0, sigma^2) per receiver and frequency, with the complex
gain g_f per frequency unknown (it is solved for inside the fit). For complex Gaussian noise the
Fisher information of p is (Kay, *Fundamentals of Statistical Signal Processing: Estimation
Theory*, 1993, sec. 15.7)

    I(p) = (2 / sigma^2) Re(J_perp^H J_perp),

J = du/dp the Jacobian of every response (forward mode through the Rayleigh-Sommerfeld matrices,
:meth:`calibration.physical.PhysicalParameterization.cascade_and_jvp`, and the cascade), and J_perp
its part orthogonal, per frequency, to the nuisance direction u (the unknown gain costs that
much information: the Schur complement of the nuisance block). The bound is CRB = I^-1: no
unbiased estimator has a covariance below it, so E||p_hat - p||^2 against trace(CRB), per
parameter, is the estimator's efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.receivers import RECEIVERS, fit_receivers
from simhw.physics.propagation import Cascade

__all__ = ["FisherResult", "fisher_information", "response_jacobian"]


@dataclass
class FisherResult:
    """Fisher information (n, n) of the physical parameters, its bound, and the noise it assumed."""

    information: np.ndarray
    crb: np.ndarray
    sigma2: float
    names: list

    @property
    def std(self) -> np.ndarray:
        """The smallest standard deviation any unbiased estimator reaches, per parameter."""
        return np.sqrt(np.diag(self.crb))

    def efficiency(self, estimates: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """MSE / CRB per parameter over repeated estimates (R, n) of ``truth`` (n,): 1 is efficient."""
        err = np.atleast_2d(estimates) - np.asarray(truth)[None]
        return np.mean(err**2, axis=0) / np.diag(self.crb)


def _forward(cascade: Cascade, t: np.ndarray, d_in, d_layers, d_out) -> tuple[np.ndarray, np.ndarray]:
    """(u, du): responses (T, F, P) and their change for matrix changes (d_in, d_layers, d_out)."""
    L = t.shape[1]
    x = np.broadcast_to(cascade.w_in[None, ..., 0], (t.shape[0],) + cascade.w_in.shape[:2])
    dx = np.broadcast_to(d_in[None, ..., 0], x.shape)
    u = du = x
    for l in range(L):
        u, du = x * t[:, l, None, :], dx * t[:, l, None, :]
        if l < L - 1:
            x = np.einsum("fmn,tfn->tfm", cascade.w_layers[l], u)
            dx = np.einsum("fmn,tfn->tfm", cascade.w_layers[l], du) + np.einsum("fmn,tfn->tfm", d_layers[l], u)
    return (
        np.einsum("fpn,tfn->tfp", cascade.w_out, u),
        np.einsum("fpn,tfn->tfp", cascade.w_out, du) + np.einsum("fpn,tfn->tfp", d_out, u),
    )


def response_jacobian(
    par, x, theta, amplitude=None, frequencies=None, open_output: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(u (T, F, P), J (T, F, P, n)): responses at ``x`` for phases ``theta`` (T, L, N) (and atom amplitudes)
    and their derivative with respect to the n physical parameters. ``open_output``: the field leaving
    the last layer (T, F, N) instead, for receivers that fit the output matrix."""
    cascade, jvp = par.cascade_and_jvp(x, frequencies)
    if open_output:
        F, _, N = cascade.w_out.shape
        cascade = Cascade(
            cascade.w_in, cascade.w_layers, np.broadcast_to(np.eye(N, dtype=complex), (F, N, N)), cascade.frequencies
        )
    t = np.exp(1j * np.asarray(theta, float))
    if amplitude is not None:
        t = t * amplitude
    cols, u = [], None
    for j in range(par.n_physical):
        e = np.zeros(par.n_physical)
        e[j] = 1.0
        d_in, d_layers, d_out = jvp(e)
        u, du = _forward(cascade, t, d_in, d_layers, np.zeros_like(cascade.w_out) if open_output else d_out)
        cols.append(du)
    return u, np.stack(cols, axis=-1)


def _projected_information(jac: np.ndarray, nuisance: np.ndarray) -> np.ndarray:
    """sum over groups of Re(J_perp^H J_perp), J (G, R, n) with the span of nuisance (G, R, k) removed."""
    coef = np.linalg.pinv(nuisance) @ jac
    perp = jac - nuisance @ coef
    return np.einsum("gri,grj->ij", np.conj(perp), perp).real


def fisher_information(
    par, x, theta, sigma2: float | None = None, amplitude=None, receivers: str = "gain", y=None, frequencies=None
) -> FisherResult:
    """Fisher information and CRB of the physical parameters of ``par`` at ``x`` for pilots ``theta``.

    ``sigma2``: complex noise variance per receiver and frequency; None estimates it from the residual
    of the fit to ``y`` (T, F, P) (model error included, so the bound is then conservative). The
    receive terms of ``receivers`` (:mod:`calibration.receivers`) are nuisances: fitted to ``y`` where
    given (their values scale the Jacobian), and their directions projected out."""
    if receivers not in RECEIVERS:
        raise ValueError(f"receivers must be one of {RECEIVERS}, got {receivers!r}")
    u, jac = response_jacobian(par, x, theta, amplitude, frequencies, open_output=receivers == "free")
    T, F = u.shape[:2]
    ones = np.ones((F * (y.shape[2] if y is not None else u.shape[2]), T, 1), complex)
    if receivers == "free":
        if y is None:
            raise ValueError("free receivers need the data y to fit the output matrix")
        fit = fit_receivers("free", u, y)
        jac = np.einsum("fpn,tfnj->tfpj", fit.w_out, jac)
        P = y.shape[2]
        z = np.broadcast_to(u.transpose(1, 0, 2)[:, None], (F, P, T, u.shape[2])).reshape(F * P, T, -1)
        nuisance = np.concatenate([z, ones], axis=-1)
        groups = jac.transpose(1, 2, 0, 3).reshape(F * P, T, -1)
    else:
        fit = None if y is None else fit_receivers(receivers, u, y)
        if fit is not None:
            g = fit.gain[None, :, None] if receivers == "gain" else fit.gain[None]
            u, jac = u * g, jac * g[..., None]
        if receivers == "gain":
            P = u.shape[2]
            nuisance = u.transpose(1, 0, 2).reshape(F, T * P, 1)
            groups = jac.transpose(1, 0, 2, 3).reshape(F, T * P, -1)
        else:
            nuisance = np.concatenate([u.transpose(1, 2, 0).reshape(-1, T, 1), ones], axis=-1)
            groups = jac.transpose(1, 2, 0, 3).reshape(-1, T, jac.shape[-1])
    if sigma2 is None:
        if fit is None:
            raise ValueError("give sigma2, or the data y to estimate it from")
        sigma2 = float(np.mean(np.abs(y - fit.prediction) ** 2))
    if not sigma2 > 0:
        raise ValueError(f"the noise variance must be > 0, got {sigma2}")
    info = (2.0 / sigma2) * _projected_information(groups, nuisance)
    L = par.ideal.n_layers
    names = [f"{k}{l + 1}" for k in ("spacing", "offset", "rotation") for l in range(L)]
    return FisherResult(info, np.linalg.pinv(info), float(sigma2), names)
