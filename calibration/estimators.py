"""Gradient-based calibration of the physical parameterization (seed 002, sec. III and IV).

Observations: in slot t the SIM shows phases theta_t and the receivers see
y_t = W_out Phi_L(theta_t) W_L ... Phi_1(theta_t) h + n_t (one column: the test antenna), at every
swept frequency. Unknowns: the physical parameters p (see :mod:`calibration.physical`) and the test
channel h (N complex per frequency). h enters linearly, so for each p it is solved by least squares
(variable projection) and the optimiser (L-BFGS-B, analytic gradients) only searches over p. By the
envelope theorem the gradient of the projected NMSE is the partial gradient at the optimal h.

Multi-stage: stage s adds its slots to the data and fits p starting from the previous estimate,
inside a trust region of radius ``radii[s]`` (in units of the parameter scales) around it: wide
early (coarse, large steps), narrow later (fine, small steps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from simhw.model import SIMModel
from simhw.propagation import Cascade

from .physical import PhysicalParameterization

__all__ = ["CalibrationData", "PhysicalFit", "fit_physical", "solve_channel", "nmse_db"]


def nmse_db(estimate, truth) -> float:
    """10 log10(||estimate - truth||^2 / ||truth||^2)."""
    estimate, truth = np.asarray(estimate), np.asarray(truth)
    return float(10 * np.log10(np.sum(np.abs(estimate - truth) ** 2) / np.sum(np.abs(truth) ** 2)))


@dataclass
class CalibrationData:
    """Pilot phases (T, L, N), measured responses (T, F, P) and their frequencies (F,)."""

    theta: np.ndarray
    y: np.ndarray
    frequencies: np.ndarray

    def __post_init__(self):
        self.theta = np.asarray(self.theta, float)
        self.y = np.asarray(self.y, complex)
        self.frequencies = np.atleast_1d(np.asarray(self.frequencies, float))
        if self.theta.ndim != 3 or self.y.ndim != 3 or self.y.shape[0] != self.theta.shape[0]:
            raise ValueError(f"theta must be (T, L, N) and y (T, F, P) with the same T; got {self.theta.shape} "
                             f"and {self.y.shape}")
        if self.y.shape[1] != self.frequencies.size:
            raise ValueError(f"y has {self.y.shape[1]} frequencies, frequencies has {self.frequencies.size}")
        if not (np.all(np.isfinite(self.theta)) and np.all(np.isfinite(self.y))):
            raise ValueError("calibration data contain NaN or infinite values")

    @property
    def slots(self) -> int:
        return self.theta.shape[0]

    def take(self, idx) -> "CalibrationData":
        return CalibrationData(self.theta[idx], self.y[idx], self.frequencies)


def solve_channel(g: np.ndarray, y: np.ndarray, ridge: float = 1e-9) -> np.ndarray:
    """Least-squares test channel h (F, N) from uplink matrices g (T, F, P, N) and data y (T, F, P)."""
    T, F, P, N = g.shape
    a = g.transpose(1, 0, 2, 3).reshape(F, T * P, N)
    b = y.transpose(1, 0, 2).reshape(F, T * P)
    ah = np.conj(a).transpose(0, 2, 1)
    gram = ah @ a
    lam = ridge * np.trace(gram, axis1=1, axis2=2).real[:, None, None] / N
    return np.linalg.solve(gram + lam * np.eye(N), (ah @ b[..., None]))[..., 0]


@dataclass
class PhysicalFit:
    """Result of :func:`fit_physical`: parameters, test channel, cascade, the loss and its history."""

    params: np.ndarray
    channel: np.ndarray  # (F, N)
    cascade: Cascade
    nmse_db: float
    iterations: int
    evaluations: int
    seconds: float
    history: list = field(default_factory=list)

    def model(self) -> SIMModel:
        return SIMModel(self.cascade)


def _objective(par: PhysicalParameterization, data: CalibrationData):
    scale_y = float(np.sum(np.abs(data.y) ** 2))

    def f(z):
        p = z * par.scale
        cascade, vjp = par.cascade_and_vjp(p, data.frequencies)
        g = SIMModel(cascade, convention="uplink").response(data.theta)  # (T, F, P, N)
        h = solve_channel(g, data.y)
        cascade = Cascade(h[..., None], cascade.w_layers, cascade.w_out, cascade.frequencies)
        resid = np.einsum("tfpn,fn->tfp", g, h) - data.y
        model = SIMModel(cascade)
        loss = float(np.sum(np.abs(resid) ** 2)) / scale_y
        g_h = (2.0 / scale_y) * resid[..., None]
        _, g_layers, g_out = model.matrix_vjp(data.theta, g_h)
        grad = vjp(np.zeros_like(cascade.w_in), g_layers, g_out) * par.scale
        return loss, grad, h, cascade

    return f


def fit_physical(par: PhysicalParameterization, data: CalibrationData, start: np.ndarray | None = None,
                 radius: float = 50.0, max_iter: int = 100, tol: float = 1e-12) -> PhysicalFit:
    """Fit physical parameters (and the test channel) to ``data`` by L-BFGS-B from ``start``.

    ``radius`` bounds each parameter to start +/- radius * scale (a trust region).
    """
    n_unknown = par.n_params + data.frequencies.size * par.ideal.n_atoms * 2
    n_obs = data.y.size * 2
    if n_obs < n_unknown:
        raise ValueError(f"{data.slots} slots give {n_obs} real observations for {n_unknown} unknowns: "
                         "measure more slots")
    t0 = time.perf_counter()
    z0 = np.zeros(par.n_params) if start is None else np.asarray(start, float) / par.scale
    f = _objective(par, data)
    history = []

    def fun(z):
        loss, grad, _, _ = f(z)
        history.append(loss)
        return loss, grad

    res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=[(z - radius, z + radius) for z in z0],
                   options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-14})
    loss, _, h, cascade = f(res.x)
    return PhysicalFit(res.x * par.scale, h, cascade, 10 * np.log10(max(loss, 1e-300)), int(res.nit), len(history),
                       time.perf_counter() - t0, history)
