"""Learned calibration: a regression from measured pilot responses to parameters ([3] Interlayer error
calibration, sec. III-B).

Pre-training (offline, on simulated data): draw parameter sets from the fabrication-error box,
simulate the responses to a fixed set of pilot configurations with noise at the expected pilot
SNR, and fit a ridge-regularised linear map from response features to normalised parameters.
Features are the responses divided by their projection on the ideal model's prediction, per
frequency: that removes the unknown complex gain of the test antenna and cable.

Fine-tuning (online, on the data at hand): the map is re-fitted on fresh simulated samples drawn
around the current estimate in a box ``shrink`` times smaller each round and applied again, so
the learned inverse becomes local to the SIM being calibrated. No gradient of the measurement
model is used. Only the physical part of a parameterization is learned.
"""

from __future__ import annotations

import time

import numpy as np

from calibration.data import CalibrationData, Objective, stack_cascades
from calibration.estimators import Fit, finish
from calibration.parameterization import Parameterization
from simhw.physics.geometry import FabricationErrors
from simhw.physics.model import SIMModel

__all__ = ["LearnedEstimator"]


class LearnedEstimator:
    """Linear learned inverse over ``pilots`` (T, L, N codes at ``bits``), pre-trained at its first fit."""

    name = "learned"

    def __init__(
        self,
        par: Parameterization,
        bounds: FabricationErrors,
        pilots: np.ndarray,
        bits: int,
        frequencies=None,
        snr_db: float = 30.0,
        samples: int = 1500,
        ridge: float = 1e-6,
        rounds: int = 3,
        shrink: float = 0.3,
        seed=0,
    ):
        physical = getattr(par, "physical", par)
        if physical.name != "physical":
            raise ValueError(f"the learned estimator needs physical parameters; {par.name} has none")
        self.par, self.physical = par, physical
        self.pilots = np.asarray(pilots).astype(np.uint16)
        self.theta = self.pilots * (2 * np.pi / (1 << bits))
        self.bits = bits
        self.frequencies = par.ideal.frequencies if frequencies is None else np.atleast_1d(frequencies)
        self.snr_db, self.samples, self.ridge = snr_db, samples, ridge
        self.rounds, self.shrink = rounds, shrink
        self.rng = np.random.default_rng(seed)
        self.half = physical.prior(bounds) / physical.scale  # box half-widths in normalised units
        self._ideal_pred = self._simulate(np.zeros((1, physical.n_params)))[0]
        self._pretrained: dict | None = None  # trained at the first fit, where its iteration callback can stop it
        self.pretrain_seconds: float | None = None  # how long that pre-training took

    # ------------------------------------------------------------------ simulation and features
    def _simulate(self, z: np.ndarray, theta: np.ndarray | None = None, iteration=None) -> np.ndarray:
        """Responses (S, T, F, P) of parameter sets z (S, n) in normalised units; ``iteration()`` is called
        before each sample (a progress point: a cancelled calibration stops there)."""
        theta = self.theta if theta is None else theta

        def cascade(v):
            if iteration is not None:
                iteration()
            return self.physical.cascade(v * self.physical.scale, self.frequencies)

        out = []
        for s in range(0, z.shape[0], 64):
            part = [cascade(v) for v in z[s : s + 64]]
            C, F = len(part), self.frequencies.size
            h = SIMModel(stack_cascades(part)).response(theta)[..., 0]  # (T, C*F, P)
            out.append(h.reshape(h.shape[0], C, F, -1).transpose(1, 0, 2, 3))
        return np.concatenate(out)

    def _features(self, y: np.ndarray) -> np.ndarray:
        """(S, T, F, P) -> (S, 2 T F P), invariant to a complex gain per frequency."""
        ref = self._ideal_pred[: y.shape[1]]
        proj = np.einsum("stfp,tfp->sf", y, np.conj(ref)) / np.sum(np.abs(ref) ** 2, axis=(0, 2))
        v = (y / proj[:, None, :, None]).reshape(y.shape[0], -1)
        return np.concatenate([v.real, v.imag], axis=1)

    def _train(self, center: np.ndarray, half: np.ndarray, iteration=None) -> dict:
        """Simulate ``samples`` draws in center +/- half and fit the linear map per pilot count (lazily)."""
        z = center + self.rng.uniform(-1, 1, (self.samples, center.size)) * half
        y = self._simulate(z, iteration=iteration)
        sigma = np.sqrt(np.mean(np.abs(y) ** 2) / 10 ** (self.snr_db / 10))
        y = y + sigma / np.sqrt(2) * (self.rng.standard_normal(y.shape) + 1j * self.rng.standard_normal(y.shape))
        return {"z": z, "y": y, "maps": {}}

    def _map(self, bank: dict, slots: int):
        if slots not in bank["maps"]:
            phi = self._features(bank["y"][:, :slots])
            mu_x, mu_z = phi.mean(axis=0), bank["z"].mean(axis=0)
            a, b = phi - mu_x, bank["z"] - mu_z
            gram = a @ a.T  # samples x samples: cheaper than features x features
            lam = self.ridge * np.trace(gram) / gram.shape[0]
            coef = a.T @ np.linalg.solve(gram + lam * np.eye(gram.shape[0]), b)
            bank["maps"][slots] = (mu_x, mu_z, coef)
        return bank["maps"][slots]

    def _predict(self, bank: dict, y: np.ndarray) -> np.ndarray:
        mu_x, mu_z, coef = self._map(bank, y.shape[0])
        return (self._features(y[None])[0] - mu_x) @ coef + mu_z

    # ------------------------------------------------------------------ estimator interface
    def fit(
        self, data: CalibrationData, start: np.ndarray | None = None, radius: float | None = None, iteration=None
    ) -> Fit:
        T = data.slots
        if T > len(self.pilots) or not np.allclose(data.theta, self.theta[:T]):
            raise ValueError(
                f"the learned estimator was trained on its own {len(self.pilots)} pilot configurations; "
                "measure those (LearnedEstimator.pilots) in that order"
            )
        if not np.array_equal(data.frequencies, self.frequencies):
            raise ValueError("the learned estimator was trained at other frequencies")
        objective = Objective(self.par, data, iteration)
        t0 = time.perf_counter()
        if self._pretrained is None:
            self._pretrained = self._train(np.zeros(self.physical.n_params), self.half, iteration)
            self.pretrain_seconds = time.perf_counter() - t0  # kept out of the fit's own time
            t0 = time.perf_counter()
        z = self._predict(self._pretrained, data.y)
        z = np.clip(z, -self.half, self.half)
        half = self.half
        history = [objective.misfits(self._full(z)[None])[0]]
        for _ in range(self.rounds):
            half = half * self.shrink
            z_new = self._predict(self._train(z, half, iteration), data.y)
            z_new = np.clip(z_new, z - half, z + half)
            err = objective.misfits(self._full(z_new)[None])[0]
            if err < history[-1]:
                z = z_new
            history.append(min(err, history[-1]))
        return finish(objective, self._full(z), "learned", self.rounds, t0, history)

    def _full(self, z: np.ndarray) -> np.ndarray:
        x = self.par.initial()
        x[: self.physical.n_params] = z * self.physical.scale
        return x
