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

from calibration.physical import PhysicalParameterization
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
    for l in range(L):
        u, du = x * t[:, l, None, :], dx * t[:, l, None, :]
        if l < L - 1:
            x = np.einsum("fmn,tfn->tfm", cascade.w_layers[l], u)
            dx = np.einsum("fmn,tfn->tfm", cascade.w_layers[l], du) + np.einsum("fmn,tfn->tfm", d_layers[l], u)
    return (np.einsum("fpn,tfn->tfp", cascade.w_out, u),
            np.einsum("fpn,tfn->tfp", cascade.w_out, du) + np.einsum("fpn,tfn->tfp", d_out, u))


def response_jacobian(par: PhysicalParameterization, p, theta, frequencies=None) -> tuple[np.ndarray, np.ndarray]:
    """(u (T, F, P), J (T, F, P, n)): the responses at ``p`` for phases ``theta`` (T, L, N) and du/dp."""
    cascade, jvp = par.cascade_and_jvp(p, frequencies)
    t = np.exp(1j * np.asarray(theta, float))
    cols = []
    u = None
    for j in range(par.n_params):
        e = np.zeros(par.n_params)
        e[j] = 1.0
        d_in, d_layers, d_out = jvp(e)
        u, du = _forward(cascade, t, d_in[..., None] if d_in.ndim == 2 else d_in, d_layers, d_out)
        cols.append(du)
    return u, np.stack(cols, axis=-1)


def fisher_information(par: PhysicalParameterization, p, theta, sigma2: float, frequencies=None) -> FisherResult:
    """Fisher information and CRB of the physical parameters ``p`` for pilots ``theta`` at noise ``sigma2``
    (complex variance per receiver and frequency), the per-frequency complex gain a nuisance."""
    if not sigma2 > 0:
        raise ValueError(f"the noise variance must be > 0, got {sigma2}")
    u, jac = response_jacobian(par, p, theta, frequencies)
    T, F, P, n = jac.shape
    uf = u.transpose(1, 0, 2).reshape(F, T * P)
    jf = jac.transpose(1, 0, 2, 3).reshape(F, T * P, n)
    proj = np.einsum("fk,fkn->fn", np.conj(uf), jf) / np.sum(np.abs(uf) ** 2, axis=1)[:, None]
    perp = jf - uf[..., None] * proj[:, None, :]
    info = (2.0 / sigma2) * np.einsum("fki,fkj->ij", np.conj(perp), perp).real
    L = par.n_layers
    names = [f"{k}{l + 1}" for k in ("spacing", "offset", "rotation") for l in range(L)]
    return FisherResult(info, np.linalg.inv(info), float(sigma2), names)
