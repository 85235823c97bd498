"""Fitting the ``multiport`` family: Levenberg-Marquardt with the receive terms projected out.

The responses are linear in the receive terms (:mod:`calibration.receivers`) and nonlinear in the
network's parameters x (:mod:`calibration.network`). Variable projection (Golub and Pereyra, SIAM J.
Numer. Anal. 10, 1973) solves the receive terms in closed form for every x and steps x alone; the
Gauss-Newton matrix uses Kaufman's approximation of the projected Jacobian, P_perp J, where P_perp
removes, per frequency (and port), the directions the receive terms can already explain (Kaufman,
BIT 15, 1975). Steps are damped Levenberg-Marquardt steps (Marquardt's scaling by the diagonal), so
the fit moves like gradient descent far from the optimum and like Gauss-Newton near it.

Every complex term of the network is holomorphic in y, so the real Gauss-Newton matrix is assembled
from one complex Gram matrix of the complex columns: for z = u + 1j v with dy/du = J, dy/dv = 1j J,
Re(J^H J) gives the (u, u) and (v, v) blocks and -Im / +Im the off-diagonal ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import zherk

from calibration.data import CalibrationData, level_indices
from calibration.estimators import Fit
from calibration.network import NetworkParameterization
from calibration.receivers import ReceiverFit, fit_receivers
from simhw.physics.geometry import GeometryError
from simhw.physics.propagation import Cascade

__all__ = [
    "NetworkState",
    "NetworkObjective",
    "fit_network",
    "NetworkEstimator",
    "network_bound",
    "state_cascade",
    "network_fisher",
    "ridge_path",
    "RIDGE_WEAKER",
    "RIDGE_STRONGER",
    "ridge_scale",
]


SOLVE_TOL = 1e-7  # the fit's fields to 1e-7 relative: near the optimum a trial changes the loss by >= 1e-8 of ||y||^2,
# which fields accurate to ~1e-6 resolve (at -50 dB misfit); the final responses are 140 dB below the data


@dataclass
class NetworkState:
    """The network at x with its fitted receive terms."""

    x: np.ndarray
    misfit: float  # ||y_model - y||^2 / ||y||^2
    loss: float  # misfit + ridge penalty
    blocks: object
    t: np.ndarray
    fit: ReceiverFit
    h: np.ndarray  # what the receive terms act on: (T, F, N) last-layer field ("free") or (T, F, P)

    def out_matrix(self) -> np.ndarray:
        """(F, P, N) the receive side acting on the last layer's field."""
        w_out = self.blocks.model.w_out
        if self.fit.mode == "free":
            return self.fit.w_out
        if self.fit.mode == "port":
            return self.fit.gain[..., None] * w_out
        return self.fit.gain[:, None, None] * w_out


class NetworkObjective:
    """Misfit of the multiport family on pilots, with the receive terms eliminated."""

    def __init__(self, par: NetworkParameterization, data: CalibrationData, iteration=None):
        if data.codes is None or data.bits is None:
            raise ValueError("the multiport family fits the atoms' response per code: calibrate from board codes")
        if (1 << data.bits) != par.levels:
            raise ValueError(f"the model has {par.levels} code levels, the pilots are {data.bits}-bit")
        data.check_against(par)
        self.par, self.data, self.iteration = par, data, iteration
        self.levels = level_indices(data, par.levels)
        self.scale_y = float(np.sum(np.abs(data.y) ** 2))
        if self.scale_y == 0:
            raise ValueError("all measured responses are zero: is the VNA connected to the SIM?")
        self.ridge_w = par.ridge_weights()
        self.calls = 0

    def penalty(self, x) -> float:
        return float(np.sum(self.ridge_w * x * x))

    def state(self, x, sources: np.ndarray | None = None, guess=None) -> tuple[NetworkState, object]:
        """The network at x, its fitted receive terms, and the solved fields (``guess``: the fields of a
        nearby point, where the solve starts)."""
        self.calls += 1
        if self.iteration is not None:
            self.iteration()
        par, y = self.par, self.data.y
        blocks = par.blocks(x, self.data.frequencies)
        t = par.transmissions(x, self.levels, blocks.response)
        fields = blocks.model.solve(t, sources=sources, guess=guess, tol=SOLVE_TOL)
        a_last = fields.a_out[:, :, -1, :, 0]  # (T, F, N)
        h = a_last if par.receivers == "free" else np.einsum("fpn,tfn->tfp", blocks.model.w_out, a_last)
        fit = fit_receivers(par.receivers, h, y)
        misfit = float(np.sum(np.abs(fit.prediction - y) ** 2)) / self.scale_y
        state = NetworkState(np.asarray(x, float), misfit, misfit + self.penalty(x), blocks, t, fit, h)
        return state, fields

    def solved(self, x) -> tuple[NetworkState, object, np.ndarray]:
        """(state, fields, e) at x: the receive terms fitted first, then one solve carrying the adjoint
        sources of that receive side ``e`` (F, P, N), whose fields give the Jacobian."""
        state, _ = self.state(x)
        e = state.out_matrix()
        state, fields = self.state(x, sources=np.swapaxes(e, 1, 2))
        return state, fields, e

    def jacobian_parts(self, state: NetworkState, fields, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """d y / d (geometry, complex terms) at fixed receive terms (:meth:`NetworkParameterization.jacobian_parts`),
        with what the geometry's output matrix adds in the receive modes that keep it."""
        gain_jvp = None
        if self.par.receivers != "free":
            a_last = fields.a_out[:, :, -1, :, 0]
            g = state.fit.gain if self.par.receivers == "port" else state.fit.gain[:, None]
            gain_jvp = lambda d_out: g[None] * np.einsum("fpn,tfn->tfp", d_out, a_last)  # noqa: E731
        return self.par.jacobian_parts(state.x, state.blocks, fields, self.levels, e, gain_jvp)

    def gauss_newton(self, state: NetworkState, fields, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, g): the Gauss-Newton matrix of the misfit and minus its half-gradient at ``state``, from
        ``fields`` solved with the adjoint sources of the receive side ``e`` (F, P, N)."""
        par = self.par
        jac_g, jac_c = self.jacobian_parts(state, fields, e)
        resid = self.data.y - state.fit.prediction
        n_g = jac_g.shape[-1]
        jac = project(np.concatenate([jac_g, jac_c], axis=-1), par.receivers, state.h)
        rows = resid.size
        jac = jac.reshape(rows, -1)
        jg, jc, r = jac[:, :n_g], jac[:, n_g:], resid.reshape(rows)
        n_c = jc.shape[1]
        gcc = _gram(jc)
        ggc = jg.conj().T @ jc
        h = np.empty((n_g + 2 * n_c,) * 2)
        h[:n_g, :n_g] = (jg.conj().T @ jg).real
        h[:n_g, n_g : n_g + n_c], h[:n_g, n_g + n_c :] = ggc.real, -ggc.imag
        h[n_g:, :n_g] = h[:n_g, n_g:].T
        h[n_g : n_g + n_c, n_g : n_g + n_c] = h[n_g + n_c :, n_g + n_c :] = gcc.real
        h[n_g : n_g + n_c, n_g + n_c :], h[n_g + n_c :, n_g : n_g + n_c] = -gcc.imag, gcc.imag
        jr_c = jc.conj().T @ r
        g = np.concatenate([(jg.conj().T @ r).real, jr_c.real, jr_c.imag])
        return h / self.scale_y, g / self.scale_y


def project(jac: np.ndarray, mode: str, h: np.ndarray) -> np.ndarray:
    """Kaufman's projected Jacobian: remove from d y / d x (T, F, P, n) what the receive terms of
    ``mode`` can follow for modelled responses ``h`` (their closed-form solution moves with x)."""
    T, F, P, n = jac.shape
    if mode == "free":  # per frequency, over slots: the last layer's field and a constant
        z = np.concatenate([h, np.ones((T, F, 1), complex)], axis=-1).transpose(1, 0, 2)  # (F, T, N+1)
        j = jac.transpose(1, 0, 2, 3).reshape(F, T, P * n)
        j = j - z @ _normal_solve(z, j)
        return j.reshape(F, T, P, n).transpose(1, 0, 2, 3)
    if mode == "port":  # per frequency and port, over slots: the response and a constant
        z = np.stack([h, np.ones_like(h)], axis=-1).transpose(1, 2, 0, 3)  # (F, P, T, 2)
        j = jac.transpose(1, 2, 0, 3)  # (F, P, T, n)
        j = j - z @ _normal_solve(z, j)
        return j.transpose(2, 0, 1, 3)
    v = h.transpose(1, 0, 2).reshape(F, T * P)  # "gain": per frequency, over slots and ports
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    j = jac.transpose(1, 0, 2, 3).reshape(F, T * P, n)
    j = j - v[..., None] * (v.conj()[:, None, :] @ j)
    return j.reshape(F, T, P, n).transpose(1, 0, 2, 3)


def _gram(j: np.ndarray) -> np.ndarray:
    """j^H j for a tall complex j, from its upper triangle (BLAS zherk: half the work of a product)."""
    upper = zherk(1.0, np.asfortranarray(j.T), trans=0)  # j^T conj(j) = conj(j^H j), upper triangle
    g = np.triu(upper) + np.triu(upper, 1).conj().T
    return g.conj()


def _normal_solve(z: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of j on the columns of z (batched), with a whisper of ridge as the
    receive fit has."""
    zh = np.conj(np.swapaxes(z, -1, -2))
    gram = zh @ z
    lam = 1e-12 * np.maximum(np.diagonal(gram, axis1=-2, axis2=-1).real, 1e-300)
    return np.linalg.solve(gram + lam[..., None, :] * np.eye(gram.shape[-1]), zh @ j)


def fit_network(
    par: NetworkParameterization,
    data: CalibrationData,
    start=None,
    max_iter: int = 40,
    tol: float = 1e-2,
    iteration=None,
    damping: float = 1e-3,
) -> Fit:
    """Fit the multiport family to ``data`` by Levenberg-Marquardt from ``start`` (default: the
    nominal network); stops when a step lowers the loss by less than ``tol`` relatively. The ridge is
    :meth:`NetworkParameterization.ridge_weights` relative to the data's curvature of the network terms
    at the start (:func:`ridge_scale`).

    Damping follows Nielsen (IMM report, 1999): mu shrinks by max(1/3, 1 - (2 rho - 1)^3) after a step
    whose gain ratio rho (actual over predicted decrease) is positive, and grows 2, 4, 8.. fold after a
    rejected one. Each trial solve carries the adjoint sources of the receive side in force, so an
    accepted step's fields already give the next Jacobian (with the receive side one step old, which
    the fixed point does not see)."""
    t0 = time.perf_counter()
    obj = NetworkObjective(par, data, iteration)
    x = par.initial() if start is None else par.check(start).copy()
    state, fields, e = obj.solved(x)
    history = [state.loss]
    mu, nu = None, 2.0
    it = 0
    for it in range(1, max_iter + 1):
        h, g = obj.gauss_newton(state, fields, e)
        if it == 1:
            obj.ridge_w = ridge_scale(par, h)
            state.loss = state.misfit + obj.penalty(state.x)
            history[0] = state.loss
        w = obj.ridge_w
        h = h + np.diag(w)
        g = g - w * state.x
        d = np.maximum(np.diag(h), 1e-30)
        mu = damping if mu is None else mu
        e_next = state.out_matrix()
        accepted = False
        for _ in range(10):
            step = np.linalg.solve(h + mu * np.diag(d), g)
            predicted = float(step @ (2 * g - h @ step))
            try:
                trial, trial_fields = obj.state(state.x + step, sources=np.swapaxes(e_next, 1, 2), guess=fields)
            except GeometryError:  # the step left the buildable geometries (a layer past the receivers)
                mu *= nu
                nu *= 2
                continue
            rho = (state.loss - trial.loss) / max(predicted, 1e-300)
            if trial.loss < state.loss:
                accepted = True
                mu *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                nu = 2.0
                break
            mu *= nu
            nu *= 2
        if not accepted:
            break
        gain = (state.loss - trial.loss) / max(state.loss, 1e-300)
        state, fields, e = trial, trial_fields, e_next
        history.append(state.loss)
        if gain < tol:
            break
    return Fit(
        state.x,
        state_cascade(state),
        10 * np.log10(max(state.misfit, 1e-300)),
        "levenberg-marquardt",
        it,
        obj.calls,
        time.perf_counter() - t0,
        history,
        state.blocks.response,
        state.fit.leakage,
        faces=state.blocks.model.faces,
    )


def state_cascade(state: NetworkState) -> Cascade:
    """The fitted blocks as a cascade: the feed (weights included) as ``w_in``, the receive side as ``w_out``."""
    m = state.blocks.model
    return Cascade(m.w_in, m.w_gaps, state.out_matrix(), state.blocks.frequencies)


class NetworkEstimator:
    """:func:`fit_network` behind the estimators' ``fit(data, start, radius)`` interface (the radius of
    a multi-stage schedule is not used: Levenberg-Marquardt's damping is its own trust region)."""

    name = "levenberg-marquardt"

    def __init__(self, par: NetworkParameterization, max_iter: int = 40):
        self.par, self.max_iter = par, max_iter

    def fit(self, data: CalibrationData, start=None, radius=None, iteration=None) -> Fit:
        return fit_network(self.par, data, start, self.max_iter, iteration=iteration)


def ridge_scale(par: NetworkParameterization, h: np.ndarray) -> np.ndarray:
    """The ridge weights at Gauss-Newton matrix ``h``: ``par.ridge_weights()`` relative to the data's own
    curvature of the network terms, so one ridge means the same on benches of any size or power."""
    return par.ridge_weights() * max(float(np.mean(np.diag(h)[par.n_physical :])), 1e-300)


RIDGE_WEAKER = (1e-3, 1e-6)  # multiples of the per-atom ridge a validation set tries below the fitted one,
RIDGE_STRONGER = (1e2, 1e4)  # and above it when a weaker one does not help
RIDGE_STEPS = 4  # Gauss-Newton steps at most per re-ridged fit (a thousandfold weaker ridge takes four)


def ridge_path(par: NetworkParameterization, x, data: CalibrationData, factors=RIDGE_WEAKER):
    """The fit at x re-solved for each multiple of its per-atom ridge in ``factors`` (one direction away
    from 1, e.g. :data:`RIDGE_WEAKER`), each from the previous factor's solution, by Gauss-Newton steps
    until one lowers the penalised loss by less than 1e-3 (a step that raises it is halved, up to three
    times; at most :data:`RIDGE_STEPS`, which a candidate may use up unconverged). One linearised step
    is not enough: a much weaker ridge moves the per-atom terms far, and on the realistic bench one step
    from x to a hundredfold weaker ridge lands 4 dB of validation NMSE short of the re-ridged optimum. Levenberg-Marquardt's damping, larger than the weak ridges tried here, would slow the walk
    along the directions only the ridge holds. The consumer may stop early.
    Yields (factor, x, state at x)."""
    obj = NetworkObjective(par, data)
    point = obj.solved(x)
    hg = obj.gauss_newton(*point)
    base = ridge_scale(par, hg[0])
    for f in factors:
        point, hg = _ridge_solve(obj, base * f, point, hg)
        yield f, point[0].x, point[0]
        if hg is None:  # resumed for the next factor: it starts here
            hg = obj.gauss_newton(*point)


def _ridge_solve(obj: NetworkObjective, w: np.ndarray, point, hg, tol: float = 1e-3):
    """Gauss-Newton on misfit + sum(w x^2) from ``point`` = (state, fields, e) with its (H, g).
    Returns the point reached and its (H, g) if computed (None when the last step converged)."""
    h, g = hg
    damp = np.maximum(np.diag(h), 1e-30) * 1e-9  # a whisper of damping keeps the held-free directions finite
    x = point[0].x
    loss = point[0].misfit + float(np.sum(w * x * x))
    for _ in range(RIDGE_STEPS):
        step = np.linalg.solve(h + np.diag(w + damp), g - w * x)
        e_next = point[0].out_matrix()  # as in fit_network: the trial's fields carry this receive side's sources
        for _ in range(4):
            try:
                trial = (*obj.state(x + step, sources=np.swapaxes(e_next, 1, 2), guess=point[1]), e_next)
            except GeometryError:  # past the buildable geometries: a shorter step
                step = step / 2
                continue
            trial_loss = trial[0].misfit + float(np.sum(w * trial[0].x ** 2))
            if trial_loss <= loss:
                break
            step = step / 2
        else:
            return point, (h, g)
        gain = (loss - trial_loss) / max(trial_loss, 1e-300)
        point, x, loss = trial, trial[0].x, trial_loss
        if gain < tol:
            return point, None
        h, g = obj.gauss_newton(*point)
    return point, (h, g)


def network_fisher(par: NetworkParameterization, x, data: CalibrationData, sigma2: float | None = None):
    """(Fisher information of every parameter, sigma2): F = (2 / sigma^2) Re(J_perp^H J_perp), the
    Jacobian with the receive terms projected out (their Schur complement: Kay, *Fundamentals of
    Statistical Signal Processing: Estimation Theory*, 1993, sec. 15.7), sigma^2 the noise variance per
    complex sample (default: the fit's residual)."""
    obj = NetworkObjective(par, data)
    state, fields, e = obj.solved(x)
    h, _ = obj.gauss_newton(state, fields, e)
    if sigma2 is None:
        sigma2 = state.misfit * obj.scale_y / data.y.size
    return 2.0 * obj.scale_y / sigma2 * h, float(sigma2)


def network_bound(par: NetworkParameterization, x, data: CalibrationData) -> dict:
    """The Cramer-Rao bound of the physical parameters, every network term and receive term a nuisance."""
    info, sigma2 = network_fisher(par, x, data)
    n = par.n_physical
    scale = np.sqrt(np.maximum(np.diag(info), 1e-300))  # equilibrate: parameters of very different units
    w, v = np.linalg.eigh(info / np.outer(scale, scale))
    null = v[:, w < 1e-10 * w.max()]  # directions the data cannot see (a common rotation with free receivers)
    crb = np.linalg.pinv(info, rcond=1e-12, hermitian=True)[:n, :n]
    std = np.sqrt(np.maximum(np.diag(crb), 0))
    unseen = np.linalg.norm(null[:n], axis=1) > 1e-3 if null.size else np.zeros(n, bool)
    L = par.ideal.n_layers
    names = [f"{k}{l + 1}" for k in ("spacing", "offset", "rotation") for l in range(L)]
    return {
        "names": names,
        "estimate": np.asarray(x[:n], float).tolist(),
        "crb_std": [None if u else float(sd) for sd, u in zip(std, unseen)],  # None: no bound, not identifiable
        "sigma2": sigma2,
        "unidentified": [nm for nm, u in zip(names, unseen) if u],
        "noise": "the fit's residual (model error included)",
    }
