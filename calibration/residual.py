"""The residual stage: a learned per-atom, per-code correction on top of a fitted model.

No parameterization explains everything a real bench does. The largest part left over by a
physical or hybrid fit is atom-to-atom: each atom shows each code with its own amplitude and phase
(the spread of PIN-diode and varactor unit cells, [8] RIS prototyping) and sits in its
own spot of the feed's pattern. The residual stage fits a complex log-response E[l, n, k] for every
atom n of layer l and code k on top of the model's response table R0[k]:

    R[l, n, k] = R0[k] exp(E[l, n, k]).

To first order the responses move by d y_t = sum_{l,n} s_t[l, n] dE[l, n, c_t[l, n]], with s_t[l, n]
= dy_t / d log(t_ln) the sensitivity of the response to the transmission of atom (l, n), computed
exactly from the cascade's forward and backward fields. The correction is then ridge regression
(Gauss-Newton steps, the receive terms refitted after each), so it is closed form and cheap. The
ridge is chosen by K-fold cross-validation on the pilots, and the stage is kept only when it
lowers the held-out NMSE (:func:`fit_residual`): it never makes held-out prediction worse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibration.data import CalibrationData, applied_phases, fold_receivers, level_indices, nmse_db, open_output
from calibration.metrics import predicted
from calibration.receivers import fit_receivers
from simhw.physics.propagation import Cascade

__all__ = ["ResidualFit", "fit_residual", "sensitivities", "RIDGES"]

RIDGES = (1e-2, 1e-1, 1.0, 10.0, 100.0)  # x the mean diagonal of the Gram matrix


@dataclass
class ResidualFit:
    """The corrected model (or the base one when the stage was rejected) and how it was chosen."""

    cascade: Cascade
    atom_response: np.ndarray | None
    leakage: np.ndarray | None
    kept: bool
    ridge: float | None
    heldout_before_db: float
    heldout_after_db: float
    cv_db: dict = field(default_factory=dict)  # ridge -> cross-validated NMSE of the pilots (dB)
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "ridge": self.ridge,
            "heldout_before_db": self.heldout_before_db,
            "heldout_after_db": self.heldout_after_db,
            "reason": self.reason,
            "cv_db": {f"{k:g}": v for k, v in self.cv_db.items()},
        }


def _transmissions(theta, amp) -> np.ndarray:
    return np.exp(1j * theta) if amp is None else amp * np.exp(1j * theta)


def sensitivities(cascade: Cascade, t: np.ndarray) -> np.ndarray:
    """(T, L, N, F, P) dy / d log t[l, n]: how each response moves with a relative change of each atom's
    transmission ``t`` (T, L, N), from the forward field into each layer and the backward field out of it."""
    w_in, w_layers, w_out = cascade.w_in[..., 0], cascade.w_layers, cascade.w_out
    T, L, N = t.shape
    fwd = []
    x = np.broadcast_to(w_in[None], (T,) + w_in.shape)  # (T, F, N) field arriving at layer 1
    for l in range(L):
        u = x * t[:, l, None, :]
        fwd.append(u)
        if l < L - 1:
            x = np.einsum("fmn,tfn->tfm", w_layers[l], u)
    s = np.empty((T, L, N) + w_out.shape[:2], complex)
    back = np.broadcast_to(w_out[None], (T,) + w_out.shape)  # (T, F, P, N): d y / d u_L
    for l in range(L - 1, -1, -1):
        s[:, l] = np.einsum("tfpn,tfn->tnfp", back, fwd[l])
        if l > 0:
            back = np.einsum("tfpm,tm,fmn->tfpn", back, t[:, l], w_layers[l - 1])
    return s


def _design(s: np.ndarray, levels: np.ndarray, K: int) -> np.ndarray:
    """Design matrix (T F P, L N K): column (l, n, k) is s[:, l, n] where atom (l, n) shows code k."""
    T, L, N, F, P = s.shape
    a = np.zeros((T, F, P, L, N, K), complex)
    onehot = levels[..., None] == np.arange(K)  # (T, L, N, K)
    a[...] = s.transpose(0, 3, 4, 1, 2)[..., None] * onehot[:, None, None]
    return a.reshape(T * F * P, L * N * K)


class _Problem:
    """Gram matrices and right-hand sides of the linearised correction, per cross-validation fold."""

    def __init__(self, s, levels, r, K, folds):
        self.folds = folds
        T = s.shape[0]
        self.fold_of = np.arange(T) % folds
        self.gram, self.rhs, self.energy = [], [], []
        for k in range(folds):
            idx = np.flatnonzero(self.fold_of == k)
            a = _design(s[idx], levels[idx], K)
            rk = r[idx].reshape(-1)
            ah = np.conj(a.T)
            self.gram.append(ah @ a)
            self.rhs.append(ah @ rk)
            self.energy.append(float(np.vdot(rk, rk).real))
        self.G, self.b = sum(self.gram), sum(self.rhs)
        self.scale = float(np.trace(self.G).real) / self.G.shape[0]

    def solve(self, ridge: float, exclude: int | None = None, prior: np.ndarray | None = None) -> np.ndarray:
        G, b = self.G, self.b
        if exclude is not None:
            G, b = G - self.gram[exclude], b - self.rhs[exclude]
        lam = ridge * self.scale
        rhs = b if prior is None else b - lam * prior
        return np.linalg.solve(G + lam * np.eye(G.shape[0]), rhs)

    def cv_error(self, ridge: float, prior: np.ndarray | None) -> float:
        total = 0.0
        for k in range(self.folds):
            d = self.solve(ridge, k, prior)
            g, b = self.gram[k], self.rhs[k]
            total += float((np.vdot(d, g @ d) - 2 * np.vdot(d, b)).real) + self.energy[k]
        return total


def _refit(cascade: Cascade, data: CalibrationData, response, receivers: str):
    """Refit the receive terms of ``cascade`` for the atoms' ``response``: (cascade, leakage, prediction)."""
    levels = level_indices(data, response.shape[-1])
    theta, amp = applied_phases(data.theta, levels, response)
    if receivers == "free":
        h = _last_layer_field(open_output(cascade), _transmissions(theta, amp))
    else:
        h = predicted(cascade, data, response)
    fit = fit_receivers(receivers, h, data.y)
    return fold_receivers(cascade, fit), fit.leakage, fit.prediction


def _last_layer_field(cascade: Cascade, t: np.ndarray) -> np.ndarray:
    """(T, F, N) field leaving the last layer."""
    x = np.broadcast_to(cascade.w_in[None, ..., 0], (t.shape[0],) + cascade.w_in.shape[:2])
    for l in range(t.shape[1]):
        x = x * t[:, l, None, :]
        if l < t.shape[1] - 1:
            x = np.einsum("fmn,tfn->tfm", cascade.w_layers[l], x)
    return x


def fit_residual(
    cascade: Cascade,
    atom_response,
    leakage,
    data: CalibrationData,
    heldout: CalibrationData,
    receivers: str = "gain",
    folds: int = 5,
    steps: int = 4,
    ridges=RIDGES,
) -> ResidualFit:
    """The residual stage on a fitted model (``cascade`` with its receive terms, ``atom_response``
    (K,) or (L, N, K) or None, ``leakage``): kept only if it lowers the NMSE on ``heldout``."""
    before = nmse_db(predicted(cascade, heldout, atom_response, leakage), heldout.y)
    base = ResidualFit(cascade, atom_response, leakage, False, None, before, before)
    if data.codes is None or data.bits is None:
        base.reason = "the pilots carry no board codes"
        return base
    L, N = data.theta.shape[1:]
    K = 1 << data.bits
    r0 = np.ones(K, complex) if atom_response is None else np.asarray(atom_response, complex)
    if r0.shape[-1] != K:
        base.reason = f"the model's response table has {r0.shape[-1]} levels, the pilots {K}"
        return base
    r0 = np.broadcast_to(r0, (L, N, K))
    if data.slots < 2 * folds:
        base.reason = f"{data.slots} pilots are too few to cross-validate in {folds} folds"
        return base
    levels = level_indices(data, K)
    e = np.zeros((L, N, K), complex)
    c, leak = cascade, leakage
    ridge, cv_db = None, {}
    y_energy = float(np.sum(np.abs(data.y) ** 2))
    for _ in range(steps):
        response = r0 * np.exp(e)
        resid = data.y - predicted(c, data, response, leak)
        theta, amp = applied_phases(data.theta, levels, response)
        problem = _Problem(sensitivities(c, _transmissions(theta, amp)), levels, resid, K, folds)
        if ridge is None:
            none_db = 10 * np.log10(sum(problem.energy) / y_energy)
            cv_db = {lam: 10 * np.log10(max(problem.cv_error(lam, None), 1e-300) / y_energy) for lam in ridges}
            ridge = min(cv_db, key=cv_db.get)
            if cv_db[ridge] >= none_db:
                base.cv_db, base.reason = cv_db, "cross-validation prefers no correction"
                return base
        e = e + problem.solve(ridge, prior=e.ravel()).reshape(L, N, K)
        c, leak, _ = _refit(c, data, r0 * np.exp(e), receivers)
    response = r0 * np.exp(e)
    after = nmse_db(predicted(c, heldout, response, leak), heldout.y)
    if not after < before:
        base.cv_db, base.heldout_after_db = cv_db, after
        base.reason = f"held-out NMSE would go from {before:.2f} to {after:.2f} dB"
        return base
    return ResidualFit(
        c, np.ascontiguousarray(response), leak, True, ridge, before, after, cv_db, "lowers held-out NMSE"
    )
