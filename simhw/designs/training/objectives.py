"""Training objectives: a loss of the SIM phases with its analytic gradient (docs/physics.md, sec. 4).

Every objective works on a :class:`~simhw.physics.model.SIMModel` (ideal, calibrated or true) and offers

* ``loss_and_grad(theta, samples=None)`` - loss and d loss / d theta (L, N), by one forward and one
  backward sweep (the model's vector-Jacobian product); ``samples`` picks a mini-batch of pilots;
* ``loss_batch(theta, amplitude=None)`` - losses of a batch (B, L, N) of configurations (forward only);
* ``metrics(theta, amplitude=None)`` - the figures a user reads;
* ``applied(codes, bits)`` - the phases and amplitudes the atoms apply for integer codes, using the
  per-level atom response of a calibrated model when one is given.

Objectives: :class:`MultiUserSeparation` ([1] Learnable SIM, with or without a reactive jammer in the pilots),
:class:`ISACBeamforming` ([5] ISAC with SIM: sum rate and beam-matching MSE, two components for DNGD) and
:class:`~simhw.designs.training.focus.Focus` (put the power on one output: a receive port of the bench or a
point in space).
"""

from __future__ import annotations

import numpy as np

from simhw.physics.model import SIMModel

__all__ = ["Objective", "MultiUserSeparation", "ISACBeamforming", "TrainingError"]

LN2 = np.log(2.0)


class TrainingError(ValueError):
    """An impossible training request (shapes, users, objective)."""


class Objective:
    """Base class: a model, optional per-level atom response, and the interface trainers use."""

    name = "objective"
    components: tuple = ()  # names of the separately normalised parts (DNGD), if any

    def __init__(self, model: SIMModel, atom_response: np.ndarray | None = None):
        self.model = model
        self.atom_response = None if atom_response is None else np.asarray(atom_response, complex)

    @property
    def n_layers(self) -> int:
        return self.model.n_layers

    @property
    def n_atoms(self) -> int:
        return self.model.n_atoms

    def n_samples(self) -> int:
        return 1

    def _require(self, convention: str, what: str, single_frequency: bool = True) -> None:
        """Refuse a model of the wrong convention (or with several frequencies) for objective ``what``."""
        if self.model.convention != convention:
            raise TrainingError(
                f"{what} needs {'an' if convention[0] in 'aeiou' else 'a'} {convention} model "
                f"(convention='{convention}')"
            )
        if single_frequency and self.model.n_freqs != 1:
            raise TrainingError(f"{what} is trained at one frequency")

    @staticmethod
    def _as_batch(theta, amplitude=None) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, L, N) phases, and amplitudes broadcast to them, from one configuration or a batch."""
        theta = np.asarray(theta, float)
        theta = theta[None] if theta.ndim == 2 else theta
        return theta, None if amplitude is None else np.broadcast_to(amplitude, theta.shape)

    def applied(self, codes, bits: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(phases, amplitudes) (B, L, N) applied for integer ``codes`` (B, L, N)."""
        codes = np.asarray(codes, np.intp)
        theta = codes * (2 * np.pi / (1 << bits))
        if self.atom_response is None:
            return theta, None
        levels = self.atom_response.shape[-1]
        if levels != 1 << bits:
            raise TrainingError(f"the atom response has {levels} levels, codes are {bits}-bit")
        if self.atom_response.ndim == 3:  # one table per atom (L, N, K)
            L, N = self.atom_response.shape[:2]
            r = self.atom_response[np.arange(L)[:, None], np.arange(N)[None, :], codes]
        else:
            r = self.atom_response[codes]
        return theta + np.angle(r), np.abs(r)

    def loss_and_grad(self, theta, samples=None) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def loss_batch(self, theta, amplitude=None) -> np.ndarray:
        raise NotImplementedError

    def metrics(self, theta, amplitude=None) -> dict:
        return {
            "loss": float(
                self.loss_batch(np.asarray(theta)[None], None if amplitude is None else np.asarray(amplitude)[None])[0]
            )
        }

    def component_grads(self, theta) -> dict:
        """{name: (value, gradient)} of each component, all to be minimised (DNGD)."""
        raise TrainingError(f"objective {self.name!r} has no separate components for DNGD")

    def describe(self) -> dict:
        return {"objective": self.name}


# --------------------------------------------------------------------------------- [1] Learnable SIM
class MultiUserSeparation(Objective):
    """Uplink multi-user separation with the normalised-symbol loss ([1] Learnable SIM, sec. II-C, III).

    ``model``: uplink convention, G (1, M, N) from the first layer's atoms to the M BS antennas.
    ``channels``: (N, K) user channels to the first layer; ``antennas``: the K BS antennas, user k
    to antenna ``antennas[k]``; ``pilots``: (U, K) symbols. With ``jammer`` = (h_J (N,), j (U,))
    the pilots also carry the jammer's signal (the jamming-aware training of sec. IV).

        y_u = G[antennas] (H s_u + h_J j_u),  loss = mean_u || y_u/||y_u|| - s_u/||s_u|| ||^2
    """

    name = "separation"

    def __init__(self, model: SIMModel, channels, antennas, pilots, jammer=None, atom_response=None):
        super().__init__(model, atom_response)
        self._require("uplink", "multi-user separation")
        self.channels = np.asarray(channels, complex)
        self.pilots = np.asarray(pilots, complex)
        self.antennas = np.asarray(antennas, np.intp)
        n, k = self.channels.shape
        m = model.n_outputs
        if n != model.n_atoms:
            raise TrainingError(f"channels have {n} rows, the SIM has {model.n_atoms} atoms per layer")
        if k > m:
            raise TrainingError(f"{k} users need {k} BS antennas, the model has {m}")
        if (
            self.antennas.shape != (k,)
            or len(set(self.antennas.tolist())) != k
            or self.antennas.min() < 0
            or self.antennas.max() >= m
        ):
            raise TrainingError(f"antennas must be {k} distinct indices in 0..{m - 1}")
        if self.pilots.ndim != 2 or self.pilots.shape[1] != k:
            raise TrainingError(f"pilots must be (U, {k}), got {self.pilots.shape}")
        self.jammer = None
        x = self.channels @ self.pilots.T  # (N, U)
        if jammer is not None:
            h_j, j = np.asarray(jammer[0], complex), np.asarray(jammer[1], complex)
            if h_j.shape != (n,) or j.shape != (self.pilots.shape[0],):
                raise TrainingError("jammer must be (h_J (N,), samples (U,))")
            self.jammer = (h_j, j)
            x = x + h_j[:, None] * j[None, :]
        self.inputs = x
        self.s_hat = self.pilots / np.linalg.norm(self.pilots, axis=1, keepdims=True)

    @property
    def k(self) -> int:
        return self.channels.shape[1]

    def n_samples(self) -> int:
        return self.pilots.shape[0]

    def _select(self, g: np.ndarray) -> np.ndarray:
        return g[..., 0, self.antennas, :]

    def received(self, theta, amplitude=None, inputs=None) -> np.ndarray:
        """(B, K, U) received symbols at the selected antennas."""
        theta, amplitude = self._as_batch(theta, amplitude)
        g = self._select(self.model.response(theta, amplitude))  # (B, K, N)
        return g @ (self.inputs if inputs is None else inputs)

    def _losses(self, y, s_hat) -> np.ndarray:
        v = y / np.maximum(np.linalg.norm(y, axis=-2, keepdims=True), 1e-300)
        return np.mean(np.sum(np.abs(v - s_hat.T) ** 2, axis=-2), axis=-1)

    def loss_batch(self, theta, amplitude=None) -> np.ndarray:
        return self._losses(self.received(theta, amplitude), self.s_hat)

    def loss_and_grad(self, theta, samples=None) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, float)
        x = self.inputs if samples is None else self.inputs[:, samples]
        s_hat = self.s_hat if samples is None else self.s_hat[samples]
        g_full = self.model.response(theta)  # (1, M, N)
        y = g_full[0, self.antennas] @ x  # (K, U)
        n = np.maximum(np.linalg.norm(y, axis=0), 1e-300)
        f = np.real(np.sum(np.conj(s_hat.T) * y, axis=0))  # Re(s_hat^H y)
        u = y.shape[1]
        loss = float(np.mean(2 - 2 * f / n))
        g_y = -2 * (s_hat.T / n - f * y / n**3) / u
        g_g = np.zeros_like(g_full)
        g_g[0, self.antennas] = g_y @ np.conj(x.T)
        grad, _ = self.model.vjp(theta, g_g)
        return loss, grad

    def equivalent_channel(self, theta, amplitude=None) -> np.ndarray:
        """(K, K) normalised equivalent channel G[antennas] H, scaled to unit mean row energy."""
        theta = np.asarray(theta, float)
        amp = None if amplitude is None else np.asarray(amplitude)[None]
        a = self._select(self.model.response(theta[None], amp))[0] @ self.channels
        return a / np.sqrt(np.mean(np.sum(np.abs(a) ** 2, axis=1)))

    def metrics(self, theta, amplitude=None) -> dict:
        y = self.received(theta, amplitude)[0]  # (K, U)
        s = self.pilots.T
        y_hat = y * (np.linalg.norm(s, axis=0) / np.maximum(np.linalg.norm(y, axis=0), 1e-300))
        a = np.abs(self.equivalent_channel(theta, amplitude))
        off = ~np.eye(self.k, dtype=bool)
        out = {
            "loss": float(self._losses(y[None], self.s_hat)[0]),
            "constellation_mse": float(np.mean(np.abs(y_hat - s) ** 2)),
            "diagonal_strength": float(np.mean(np.diag(a))),
            "off_diagonal_strength": float(np.mean(a[off])),
        }
        if self.jammer is not None:
            theta = np.asarray(theta, float)
            amp = None if amplitude is None else np.asarray(amplitude)[None]
            g = self._select(self.model.response(theta[None], amp))[0]
            users = np.sum(np.abs(g @ self.channels) ** 2)
            out["jammer_leakage_db"] = float(10 * np.log10(np.sum(np.abs(g @ self.jammer[0]) ** 2) * self.k / users))
        return out

    def describe(self) -> dict:
        return {
            "objective": self.name,
            "users": self.k,
            "antennas": self.antennas.tolist(),
            "pilots": self.n_samples(),
            "jamming_aware": self.jammer is not None,
        }


# --------------------------------------------------------------------------------- [5] ISAC with SIM
class ISACBeamforming(Objective):
    """ISAC transmit beamforming: sum rate of K users and beam-matching MSE ([5] ISAC with SIM, sec. II-III).

    ``model``: downlink convention, G (1, N, M) from the M = K + T feed antennas (K communication
    and T sensing streams, equal power ``power`` / M each) to the last layer's atoms.
    ``users``: (N, K) channels, user k receives h_k^H G x + n with noise power ``noise``.
    ``steering``: (Q, N) steering vectors a(theta_q, phi_q) of the angle grid; ``desired``: (Q,)
    the desired normalised pattern. Beam pattern P_q = (power/M) ||a_q^H G||^2, normalised by its
    maximum over the grid; MSE = mean_q (P_q / max P - desired_q)^2.

    Components for DNGD (both minimised): "sensing" = MSE, "communication" = -sum rate (bit/s/Hz).
    The weighted loss ``w_sensing MSE - w_communication R`` is what plain gradient descent uses.
    """

    name = "isac"
    components = ("sensing", "communication")

    def __init__(
        self,
        model: SIMModel,
        users,
        steering,
        desired,
        power: float = 1.0,
        noise: float = 1.0,
        weights=(0.5, 0.5),
        atom_response=None,
    ):
        super().__init__(model, atom_response)
        self._require("downlink", "ISAC beamforming")
        self.users = np.asarray(users, complex)
        self.steering = np.asarray(steering, complex)
        self.desired = np.asarray(desired, float)
        n, k = self.users.shape
        if n != model.n_atoms or self.steering.shape[1:] != (n,):
            raise TrainingError(f"users and steering vectors must have {model.n_atoms} rows/columns (atoms)")
        if k > model.n_inputs:
            raise TrainingError(f"{k} users need at least {k} feed antennas (streams), the model has {model.n_inputs}")
        if self.desired.shape != (self.steering.shape[0],):
            raise TrainingError("desired pattern must have one value per grid direction")
        if not (power > 0 and noise > 0):
            raise TrainingError("power and noise must be > 0")
        self.power, self.noise = float(power), float(noise)
        self.weights = tuple(float(w) for w in weights)
        self.p = self.power / model.n_inputs

    @property
    def k(self) -> int:
        return self.users.shape[1]

    def _g(self, theta, amplitude=None) -> np.ndarray:
        theta, amplitude = self._as_batch(theta, amplitude)
        return self.model.response(theta, amplitude)[:, 0]  # (B, N, M)

    def _rate_parts(self, a):
        """a: (..., K, M) effective channel -> signal, interference+noise, sum rate."""
        pw = self.p * np.abs(a) ** 2
        k = self.k
        sig = pw[..., np.arange(k), np.arange(k)]
        intf = np.sum(pw, axis=-1) - sig + self.noise
        return sig, intf, np.sum(np.log2(1 + sig / intf), axis=-1)

    def _pattern(self, g):
        e = np.einsum("qn,...nm->...qm", np.conj(self.steering), g)
        return e, self.p * np.sum(np.abs(e) ** 2, axis=-1)

    def sum_rate(self, g) -> np.ndarray:
        return self._rate_parts(np.einsum("nk,...nm->...km", np.conj(self.users), g))[2]

    def beam_mse(self, g) -> np.ndarray:
        _, pat = self._pattern(g)
        return np.mean((pat / np.max(pat, axis=-1, keepdims=True) - self.desired) ** 2, axis=-1)

    def loss_batch(self, theta, amplitude=None) -> np.ndarray:
        g = self._g(theta, amplitude)
        ws, wc = self.weights
        return ws * self.beam_mse(g) - wc * self.sum_rate(g)

    def _grads_g(self, g):
        """(mse, d mse/dG, rate, d rate/dG) for one G (N, M)."""
        hh = np.conj(self.users.T)  # (K, N)
        a = hh @ g
        sig, intf, rate = self._rate_parts(a)
        k = self.k
        coef = -sig / (LN2 * intf * (intf + sig))  # d R / d |a_kj|^2 (times p) for j != k
        g_a = (2 * self.p) * coef[:, None] * a
        g_a[np.arange(k), np.arange(k)] = (2 * self.p) * a[np.arange(k), np.arange(k)] / (LN2 * (intf + sig))
        g_rate = self.users @ g_a  # A = H^H G -> dG = H dA
        e, pat = self._pattern(g)
        q_star = int(np.argmax(pat))
        pmax = pat[q_star]
        pbar = pat / pmax
        g_pbar = 2 * (pbar - self.desired) / pat.size
        g_pat = g_pbar / pmax
        g_pat[q_star] -= np.sum(g_pbar * pat) / pmax**2
        g_e = (2 * self.p) * g_pat[:, None] * e
        g_mse = self.steering.T @ g_e  # e = conj(S) G -> dG = S^T de
        return float(np.mean((pbar - self.desired) ** 2)), g_mse, float(rate), g_rate

    def component_grads(self, theta) -> dict:
        theta = np.asarray(theta, float)
        mse, g_mse, rate, g_rate = self._grads_g(self._g(theta)[0])
        grad_s, _ = self.model.vjp(theta, g_mse[None])
        grad_c, _ = self.model.vjp(theta, -g_rate[None])
        return {"sensing": (mse, grad_s), "communication": (-rate, grad_c)}

    def loss_and_grad(self, theta, samples=None) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, float)
        mse, g_mse, rate, g_rate = self._grads_g(self._g(theta)[0])
        ws, wc = self.weights
        grad, _ = self.model.vjp(theta, (ws * g_mse - wc * g_rate)[None])
        return ws * mse - wc * rate, grad

    def pattern(self, theta, amplitude=None) -> np.ndarray:
        """(Q,) normalised beam pattern of one configuration."""
        _, pat = self._pattern(self._g(theta, amplitude)[0])
        return pat / pat.max()

    def metrics(self, theta, amplitude=None) -> dict:
        g = self._g(theta, amplitude)
        mse = float(self.beam_mse(g)[0])
        return {
            "loss": float(self.loss_batch(theta, amplitude)[0]),
            "sum_rate": float(self.sum_rate(g)[0]),
            "beam_mse": mse,
            "beam_mse_db": float(10 * np.log10(max(mse, 1e-300))),
        }

    def describe(self) -> dict:
        return {
            "objective": self.name,
            "users": self.k,
            "streams": self.model.n_inputs,
            "grid": int(self.steering.shape[0]),
            "weights": list(self.weights),
        }
