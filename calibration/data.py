"""Calibration observations and the fit objective ([3] Interlayer error calibration, sec. III).

In slot t the SIM shows phases theta_t and the receivers see, at every swept frequency,

    y_t = W_out Phi_L(theta_t) W_L ... Phi_1(theta_t) h + n_t        (T, F, P)

:class:`CalibrationData` holds (theta, y, frequencies) and optionally the integer codes and bit
depth they came from. :class:`Objective` is the normalised squared error between measured and
modelled responses, ||y_model - y||^2 / ||y||^2 (+ the parameterization's penalty), with the test
channel eliminated in closed form for each x (variable projection; by the envelope theorem the
gradient is the partial gradient at the optimal channel).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calibration.parameterization import Parameterization
from calibration.receivers import fit_receivers, receive_cotangent, receiver_unknowns
from simhw.physics.geometry import GeometryError
from simhw.physics.model import SIMModel
from simhw.physics.propagation import Cascade
from simhw.values.files import write_atomic

__all__ = [
    "CalibrationData",
    "Objective",
    "Evaluation",
    "solve_channel",
    "nmse_db",
    "level_indices",
    "applied_phases",
    "stack_cascades",
    "fold_receivers",
    "open_output",
]


def nmse_db(estimate, truth) -> float:
    """10 log10(||estimate - truth||^2 / ||truth||^2)."""
    estimate, truth = np.asarray(estimate), np.asarray(truth)
    return float(10 * np.log10(np.sum(np.abs(estimate - truth) ** 2) / np.sum(np.abs(truth) ** 2)))


@dataclass
class CalibrationData:
    """Pilot phases (T, L, N), measured responses (T, F, P) and their frequencies (F,).

    ``codes`` (T, L, N) and ``bits`` record the integer configurations when the phases came from
    a board; ``meta`` is free-form provenance (bench, time, SNR) kept with the data.
    """

    theta: np.ndarray
    y: np.ndarray
    frequencies: np.ndarray
    codes: np.ndarray | None = None
    bits: int | None = None
    meta: dict | None = None

    def __post_init__(self):
        self.theta = np.asarray(self.theta, float)
        self.y = np.asarray(self.y, complex)
        self.frequencies = np.atleast_1d(np.asarray(self.frequencies, float))
        if self.theta.ndim != 3 or self.y.ndim != 3 or self.y.shape[0] != self.theta.shape[0]:
            raise ValueError(
                f"theta must be (T, L, N) and y (T, F, P) with the same T; got {self.theta.shape} and {self.y.shape}"
            )
        if self.y.shape[1] != self.frequencies.size:
            raise ValueError(f"y has {self.y.shape[1]} frequencies, frequencies has {self.frequencies.size}")
        if not (np.all(np.isfinite(self.theta)) and np.all(np.isfinite(self.y))):
            bad = np.argwhere(~np.isfinite(self.y).all(axis=(1, 2)) | ~np.isfinite(self.theta).all(axis=(1, 2)))
            raise ValueError(f"calibration data contain NaN or infinite values (slots {bad.ravel()[:10].tolist()})")
        self.meta = dict(self.meta or {})

    @classmethod
    def from_codes(cls, codes, bits: int, y, frequencies, meta: dict | None = None) -> CalibrationData:
        codes = np.asarray(codes)
        codes = codes.reshape(codes.shape[0], codes.shape[1], -1)
        return cls(codes * (2 * np.pi / (1 << bits)), y, frequencies, codes.astype(np.uint16), bits, meta)

    @property
    def slots(self) -> int:
        return self.theta.shape[0]

    def take(self, idx) -> CalibrationData:
        return CalibrationData(
            self.theta[idx],
            self.y[idx],
            self.frequencies,
            None if self.codes is None else self.codes[idx],
            self.bits,
            self.meta,
        )

    def concat(self, other: CalibrationData) -> CalibrationData:
        if not np.array_equal(self.frequencies, other.frequencies) or self.y.shape[1:] != other.y.shape[1:]:
            raise ValueError("cannot join calibration data taken at different frequencies or ports")
        codes = None if self.codes is None or other.codes is None else np.concatenate([self.codes, other.codes])
        return CalibrationData(
            np.concatenate([self.theta, other.theta]),
            np.concatenate([self.y, other.y]),
            self.frequencies,
            codes,
            self.bits,
            self.meta,
        )

    def check_against(self, par: Parameterization) -> None:
        """Raise ValueError when the data cannot calibrate ``par`` (geometry mismatch, too few slots)."""
        L, N = par.ideal.n_layers, par.ideal.n_atoms
        if self.theta.shape[1:] != (L, N):
            raise ValueError(
                f"data carry {self.theta.shape[1]} layers x {self.theta.shape[2]} atoms, the model has "
                f"{L} x {N}: mismatched geometry"
            )
        p = par.ideal.output_antennas.count
        if self.y.shape[2] != p:
            raise ValueError(f"data have {self.y.shape[2]} receive ports, the model has {p} output antennas")
        F = self.frequencies.size
        n_channel = F * 2 * N if par.channel == "free" else 0
        n_unknown = par.n_identified + n_channel + receiver_unknowns(par.receivers, F, p, N)
        if 2 * self.y.size < n_unknown:
            raise ValueError(
                f"{self.slots} slots give {2 * self.y.size} real observations for {n_unknown} unknowns "
                f"({par.name} model, {par.channel} channel): measure more slots"
            )

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz holding every array and the metadata (as JSON)."""
        arrays = {
            "theta": self.theta,
            "y": self.y,
            "frequencies": self.frequencies,
            "meta": np.array(json.dumps(self.meta, default=str)),
        }
        if self.codes is not None:
            arrays["codes"] = self.codes
            arrays["bits"] = np.array(self.bits)
        write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> CalibrationData:
        with np.load(path, allow_pickle=False) as z:
            codes = z["codes"] if "codes" in z else None
            bits = int(z["bits"]) if "bits" in z else None
            return cls(z["theta"], z["y"], z["frequencies"], codes, bits, json.loads(str(z["meta"])))


def solve_channel(g: np.ndarray, y: np.ndarray, ridge: float = 1e-9) -> np.ndarray:
    """Least-squares test channel h (F, N) from uplink matrices g (T, F, P, N) and data y (T, F, P)."""
    T, F, P, N = g.shape
    a = g.transpose(1, 0, 2, 3).reshape(F, T * P, N)
    b = y.transpose(1, 0, 2).reshape(F, T * P)
    ah = np.conj(a).transpose(0, 2, 1)
    gram = ah @ a
    lam = ridge * np.trace(gram, axis1=1, axis2=2).real[:, None, None] / N
    return np.linalg.solve(gram + lam * np.eye(N), (ah @ b[..., None]))[..., 0]


def stack_cascades(cascades: list[Cascade]) -> Cascade:
    """Many cascades as one, stacked along the frequency axis: one batched forward pass evaluates them all."""
    return Cascade(
        np.concatenate([c.w_in[..., :1] for c in cascades]),
        np.concatenate([c.w_layers for c in cascades], axis=1),
        np.concatenate([c.w_out for c in cascades]),
        np.concatenate([c.frequencies for c in cascades]),
    )


def level_indices(data: CalibrationData, levels: int) -> np.ndarray:
    """Code level (T, L, N) of every atom in every slot, for a model with a per-level atom response."""
    if data.codes is not None and data.bits is not None and (1 << data.bits) == levels:
        return data.codes.astype(np.intp)
    q = data.theta / (2 * np.pi / levels)
    k = np.rint(q)
    if np.max(np.abs(q - k), initial=0.0) > 1e-6:
        raise ValueError(
            f"the model has a response per code level ({levels} levels) but the pilot phases are not "
            "on that grid: calibrate from board codes"
        )
    return np.mod(k, levels).astype(np.intp)


def applied_phases(theta: np.ndarray, levels: np.ndarray | None, response: np.ndarray | None):
    """(phases, amplitudes) the atoms actually apply, given each level's response (None: nominal):
    one table for all atoms (K,), or one per atom (L, N, K)."""
    if response is None:
        return theta, None
    response = np.asarray(response)
    if response.ndim == 3:
        L, N = response.shape[:2]
        r = response[np.arange(L)[:, None], np.arange(N)[None, :], levels]
    else:
        r = response[levels]
    return theta + np.angle(r), np.abs(r)


def open_output(cascade: Cascade) -> Cascade:
    """The cascade with the last layer's atoms as its outputs (free receivers fit the output matrix)."""
    F, _, N = cascade.w_out.shape
    return Cascade(
        cascade.w_in, cascade.w_layers, np.broadcast_to(np.eye(N, dtype=complex), (F, N, N)), cascade.frequencies
    )


def fold_receivers(cascade: Cascade, fit) -> Cascade:
    """The cascade with the fitted receive terms in it (leakage stays apart: it is not a path through the SIM)."""
    c = cascade
    if fit.mode == "gain":
        return Cascade(c.w_in * fit.gain[:, None, None], c.w_layers, c.w_out, c.frequencies)
    if fit.mode == "port":
        return Cascade(c.w_in, c.w_layers, c.w_out * fit.gain[:, :, None], c.frequencies)
    return Cascade(c.w_in, c.w_layers, fit.w_out, c.frequencies)


@dataclass
class Evaluation:
    """The objective at one x: loss (normalised squared error + penalty), gradient, fitted cascade."""

    loss: float
    misfit: float  # normalised squared error alone
    grad: np.ndarray
    cascade: Cascade  # with the fitted test channel as w_in (F, N, 1) and the fitted receive terms
    atom_response: np.ndarray | None = None  # (levels,) when the model fits one
    leakage: np.ndarray | None = None  # (F, P) additive receive term, when the receivers fit one

    @property
    def channel(self) -> np.ndarray:
        return self.cascade.w_in[..., 0]


class Objective:
    """Normalised measured-vs-model error of ``par`` on ``data``, in normalised coordinates z = x / scale."""

    def __init__(self, par: Parameterization, data: CalibrationData, iteration: Callable[[], None] | None = None):
        """``iteration``: called before every evaluation (a fit's progress, where cancellation is seen)."""
        data.check_against(par)
        self.par, self.data, self.iteration = par, data, iteration
        self.scale_y = float(np.sum(np.abs(data.y) ** 2))
        if self.scale_y == 0:
            raise ValueError("all measured responses are zero: is the VNA connected to the SIM?")
        self.calls = 0
        self.levels = None if par.levels is None else level_indices(data, par.levels)
        self._layer_cache = None
        self._buildable: tuple[np.ndarray, float] | None = None  # the last evaluated point that is a SIM

    def _layers(self, model: SIMModel, response):
        """Layer responses for the data's phases under ``response`` (cached: pilots do not change in a fit)."""
        key = None if response is None else response.tobytes()
        if self._layer_cache is None or self._layer_cache[0] != key:
            theta, amp = applied_phases(self.data.theta, self.levels, response)
            self._layer_cache = (key, theta, amp, model.layer_responses(theta, amp))
        return self._layer_cache[1:]

    def _channel(self, cascade: Cascade, theta, amp, layers) -> np.ndarray:
        """The test channel (F, N, 1) the data imply for ``cascade``: ideal-model channel, or least squares."""
        if self.par.channel != "free":
            return cascade.w_in[..., :1]
        g = SIMModel(cascade, convention="uplink").response(theta, amp, layers=layers)  # (T, F, P, N)
        return solve_channel(g, np.broadcast_to(self.data.y, g.shape[:3]))[..., None]

    def evaluate(self, x, gradient: bool = True) -> Evaluation:
        """Loss, gradient and fitted cascade at x; the channel and its complex gain are eliminated."""
        self.calls += 1
        if self.iteration is not None:
            self.iteration()
        par, y = self.par, self.data.y
        cascade, vjp = par.cascade_and_vjp(x, self.data.frequencies)
        response = par.atom_response(x)
        theta, amp, layers = self._layers(SIMModel(cascade), response)
        model = SIMModel(
            Cascade(self._channel(cascade, theta, amp, layers), cascade.w_layers, cascade.w_out, cascade.frequencies)
        )
        if par.receivers == "free":
            model = SIMModel(open_output(model.cascade))
        fitted: dict = {}

        def cotangent(h):  # fits the receive terms, records the fit, returns dL/dh
            fit = fit_receivers(par.receivers, h[..., 0], y)
            resid = fit.prediction - y
            fitted["fit"], fitted["misfit"] = fit, float(np.sum(np.abs(resid) ** 2)) / self.scale_y
            return ((2.0 / self.scale_y) * receive_cotangent(fit, resid))[..., None]

        if gradient:
            _, _, *grads = model.response_and_matrix_vjp(theta, cotangent, amp, response is not None, layers)
        else:
            cotangent(model.response(theta, amp, layers=layers))
        fitted_cascade = fold_receivers(model.cascade, fitted["fit"])
        leakage = fitted["fit"].leakage
        pen, g_pen = par.penalty(x)
        loss = fitted["misfit"] + pen
        if not gradient:
            return Evaluation(loss, fitted["misfit"], np.zeros(par.n_params), fitted_cascade, response, leakage)
        g_in = np.zeros(cascade.w_in.shape, complex)
        if par.channel != "free":  # a least-squares channel is eliminated: no gradient flows into it
            g_in[..., :1] = grads[0]
        g_out = np.zeros(cascade.w_out.shape, complex) if par.receivers == "free" else grads[2]
        grad = vjp(g_in, grads[1], g_out) + g_pen
        if response is not None:
            grad = grad + par.atom_response_vjp(x, self.levels, grads[3], grads[4])
        return Evaluation(loss, fitted["misfit"], grad, fitted_cascade, response, leakage)

    def misfits(self, xs: np.ndarray, chunk: int = 64) -> np.ndarray:
        """Normalised squared error (without penalty) of many candidates xs (C, n) at once.

        The candidates' cascades are stacked along the frequency axis so one batched forward pass
        evaluates them all (what the codebook search spends its time on).
        """
        xs = np.atleast_2d(xs)
        if self.iteration is not None:
            self.iteration()
        out = np.empty(xs.shape[0])
        responses = [self.par.atom_response(x) for x in xs[:1]]
        if responses[0] is not None and not all(np.array_equal(self.par.atom_response(x), responses[0]) for x in xs):
            raise ValueError("batched evaluation needs candidates that share the atom response table")
        theta, amp = applied_phases(self.data.theta, self.levels, responses[0])
        F, T = self.data.frequencies.size, self.data.slots
        for s in range(0, xs.shape[0], chunk):
            part = [self.par.cascade(x, self.data.frequencies) for x in xs[s : s + chunk]]
            C = len(part)
            stacked = stack_cascades(part)
            y = np.broadcast_to(self.data.y[:, None], (T, C, F, self.data.y.shape[2])).reshape(T, C * F, -1)
            if self.par.channel == "free":
                g = SIMModel(stacked, convention="uplink").response(theta, amp)
                u = np.einsum("tfpn,fn->tfp", g, solve_channel(g, y))
            else:
                if self.par.receivers == "free":
                    stacked = open_output(stacked)
                u = SIMModel(stacked).response(theta, amp)[..., 0]
            pred = fit_receivers(self.par.receivers, u, y).prediction
            err = np.sum(np.abs(pred - y) ** 2, axis=(0, 2)).reshape(C, F).sum(axis=1)
            out[s : s + C] = err / self.scale_y
        self.calls += xs.shape[0]
        return out

    def __call__(self, z) -> tuple[float, np.ndarray]:
        """Loss and gradient in normalised coordinates (what optimisers see).

        Where a step reaches parameters that describe no buildable SIM (a layer pushed past the
        receive antennas), the loss is a steep quadratic wall around the last buildable point, so the
        optimiser's line search steps back instead of the fit ending in a geometry error."""
        z = np.asarray(z, float)
        try:
            ev = self.evaluate(z * self.par.scale)
        except GeometryError:
            if self._buildable is None:
                raise
            z_ok, loss_ok = self._buildable
            d = z - z_ok
            w = 10.0 * max(loss_ok, 1e-12)
            return 10.0 * loss_ok + w * float(d @ d), 2.0 * w * d
        self._buildable = (z.copy(), ev.loss)
        return ev.loss, ev.grad * self.par.scale
