"""The gradient estimator and the result every estimator returns ([3] Interlayer error calibration, sec. III-B).

Gradient-based: minimise the normalised measured-vs-model error over the parameters by L-BFGS-B
with analytic gradients (:class:`calibration.data.Objective`), starting from the ideal model or a
previous estimate. ``radius`` bounds every normalised parameter to start +/- radius: a trust
region that multi-stage protocols shrink from stage to stage (coarse large steps first, fine
small steps later).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from calibration.data import CalibrationData, Objective
from calibration.parameterization import Parameterization
from simhw.physics.propagation import Cascade
from simhw.values.bench_choices import ESTIMATORS

__all__ = ["Fit", "fit_gradient", "GradientEstimator", "ESTIMATORS"]


@dataclass
class Fit:
    """An estimate: parameters x, the fitted cascade (test channel as w_in) and how it was reached."""

    x: np.ndarray
    cascade: Cascade
    nmse_db: float  # measured-vs-model NMSE on the data it was fitted to
    estimator: str
    iterations: int
    evaluations: int
    seconds: float
    history: list = field(default_factory=list)
    atom_response: np.ndarray | None = None  # (levels,) fitted response per code level, if modelled
    leakage: np.ndarray | None = None  # (F, P) additive receive term, if the receivers fit one
    faces: np.ndarray | None = None  # (L, N, N) the faces of a multiport network (calibration.network)

    @property
    def channel(self) -> np.ndarray:
        return self.cascade.w_in[..., 0]


def finish(objective: Objective, x: np.ndarray, estimator: str, iterations: int, t0: float, history: list) -> Fit:
    ev = objective.evaluate(x, gradient=False)
    return Fit(
        x,
        ev.cascade,
        10 * np.log10(max(ev.misfit, 1e-300)),
        estimator,
        iterations,
        objective.calls,
        time.perf_counter() - t0,
        history,
        ev.atom_response,
        ev.leakage,
    )


def fit_gradient(
    par: Parameterization,
    data: CalibrationData,
    start: np.ndarray | None = None,
    radius: float | None = None,
    max_iter: int = 100,
    tol: float = 1e-12,
    iteration=None,
) -> Fit:
    """Fit ``par`` to ``data`` by L-BFGS-B from ``start`` (default: the ideal model); ``iteration`` is
    called at every evaluation (an exception it raises, a cancellation, ends the fit)."""
    t0 = time.perf_counter()
    objective = Objective(par, data, iteration)
    z0 = (par.initial() if start is None else par.check(start)) / par.scale
    history: list = []

    def fun(z):
        loss, grad = objective(z)
        history.append(loss)
        return loss, grad

    bounds = None if radius is None else [(z - radius, z + radius) for z in z0]
    res = minimize(
        fun, z0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-14}
    )
    return finish(objective, res.x * par.scale, "gradient", int(res.nit), t0, history)


class GradientEstimator:
    """:func:`fit_gradient` with fixed options, behind the ``fit(data, start, radius)`` interface."""

    name = "gradient"

    def __init__(self, par: Parameterization, max_iter: int = 50):
        self.par, self.max_iter = par, max_iter

    def fit(
        self, data: CalibrationData, start: np.ndarray | None = None, radius: float | None = None, iteration=None
    ) -> Fit:
        return fit_gradient(self.par, data, start, radius, self.max_iter, iteration=iteration)
