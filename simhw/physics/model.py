"""The SIM cascade: end-to-end responses for batches of phase configurations and their gradients.

docs/physics.md, sec. 1 (after [1], [2], [3] and [5]). With layer responses Phi_l = C diag(a_l exp(1j theta_l))
(C = identity unless coupling is on) the model evaluates, for every configuration in a batch and
every frequency,

    H = W_out Phi_L W_L ... Phi_2 W_2 Phi_1 W_in            (convention "end-to-end")
    G = W_out Phi_L W_L ... Phi_2 W_2 Phi_1                  (convention "uplink", y = G h s)
    G = Phi_L W_L ... Phi_2 W_2 Phi_1 W_1                    (convention "downlink", user sees h^H G x)

Gradients of any real loss of H with respect to the phases and amplitudes are computed by one
backward sweep through the cascade (reverse-mode differentiation by hand): the cost is about
twice a forward evaluation. Complex gradients follow the convention g = dL/dRe(z) + 1j dL/dIm(z),
so for a real parameter p, dL/dp = Re(sum(conj(g) * dz/dp)).

Quantization is not differentiable: with ``bits`` set, forward uses the quantized phases and the
gradient is the one at the quantized point (straight-through). Stuck atoms have zero gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simhw.physics.geometry import SimGeometry
from simhw.physics.impairments import Impairments, coupling_matrix, quantize_phases
from simhw.physics.propagation import Cascade, cascade_matrices

__all__ = ["SIMModel", "GradientResult", "CONVENTIONS"]

CONVENTIONS = ("end-to-end", "uplink", "downlink")

LossFn = Callable[[np.ndarray], "tuple[float, np.ndarray]"]


@dataclass
class GradientResult:
    """What :meth:`SIMModel.value_and_grad` returns.

    ``value``: the loss; ``grad_theta`` and ``grad_amplitude``: its gradients, shaped like the
    phases passed in; ``response``: the end-to-end response H the loss was evaluated on.
    """

    value: float
    grad_theta: np.ndarray
    grad_amplitude: np.ndarray
    response: np.ndarray


@dataclass
class _Forward:
    h: np.ndarray  # (F, M_out, B * M_in)
    xs: list  # per layer, the field arriving at the layer, (F, N, B, M_in); None for an identity input
    d: np.ndarray  # (L, N, B) complex layer responses
    dd_dtheta: np.ndarray  # (L, N, B)
    dd_da: np.ndarray  # (L, N, B)
    batch: int
    single: bool


class SIMModel:
    """A SIM as a differentiable cascade of propagation matrices and programmable layers.

    Build it from a geometry (:meth:`from_geometry`) or from a :class:`~simhw.physics.propagation.Cascade`
    of matrices (e.g. a calibrated model). ``theta`` arguments have shape (B, L, N) for a batch or
    (L, N) for one configuration; responses then have shape (B, F, M_out, M_in) or (F, M_out, M_in).
    """

    def __init__(
        self,
        cascade: Cascade,
        impairments: Impairments | None = None,
        convention: str = "end-to-end",
        seed: int | np.random.Generator | None = None,
    ):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}")
        self.cascade = cascade
        self.impairments = impairments or Impairments()
        self.convention = convention
        self.n_layers = cascade.n_layers
        self.n_atoms = cascade.n_atoms
        self.n_freqs = cascade.w_in.shape[0]
        self.dtype = cascade.w_in.dtype
        self._rng = np.random.default_rng(seed)
        imp = self.impairments
        if imp.stuck_mask is not None and imp.stuck_mask.shape != (self.n_layers, self.n_atoms):
            raise ValueError(
                f"stuck_mask must have shape (L, N) = ({self.n_layers}, {self.n_atoms}), got {imp.stuck_mask.shape}"
            )
        c = None
        if imp.coupling:
            c = coupling_matrix(self.n_atoms, imp.coupling, imp.coupling_band).astype(self.dtype)
        # Coupling acts on a layer's output, so it folds into the matrix that follows the layer.
        self._w_in = cascade.w_in if convention != "uplink" else None
        self._w_next = [w if c is None else w @ c for w in cascade.w_layers]
        if convention == "downlink":
            self._w_out = None if c is None else np.broadcast_to(c, (self.n_freqs,) + c.shape)
        else:
            self._w_out = cascade.w_out if c is None else cascade.w_out @ c
        self._w_next_h = [np.ascontiguousarray(np.conj(w).transpose(0, 2, 1)) for w in self._w_next]
        self._w_out_h = None if self._w_out is None else np.ascontiguousarray(np.conj(self._w_out).transpose(0, 2, 1))

    @classmethod
    def from_geometry(
        cls,
        geometry: SimGeometry,
        propagation: str = "rs",
        impairments: Impairments | None = None,
        convention: str = "end-to-end",
        dtype=np.complex128,
        seed=None,
    ) -> SIMModel:
        return cls(cascade_matrices(geometry, propagation, dtype=dtype), impairments, convention, seed)

    # ------------------------------------------------------------------ shapes
    @property
    def n_inputs(self) -> int:
        return self.n_atoms if self._w_in is None else self._w_in.shape[2]

    @property
    def n_outputs(self) -> int:
        return self.n_atoms if self._w_out is None else self._w_out.shape[1]

    def _check_theta(self, theta) -> tuple[np.ndarray, bool]:
        theta = np.asarray(theta, dtype=float)
        single = theta.ndim == 2
        if single:
            theta = theta[None]
        if theta.ndim != 3 or theta.shape[1:] != (self.n_layers, self.n_atoms):
            raise ValueError(
                f"phases must have shape (L, N) or (B, L, N) with L={self.n_layers}, "
                f"N={self.n_atoms}; got {np.shape(theta)}"
            )
        if not np.all(np.isfinite(theta)):
            raise ValueError("phases contain NaN or infinite values")
        return theta, single

    # ------------------------------------------------------------------ layer responses
    def layer_responses(self, theta, amplitude=None, phase_noise=None):
        """Complex layer responses d = a * a(theta') * exp(1j theta') after all impairments.

        Returns (d, dd/dtheta, dd/damplitude), each (B, L, N). ``phase_noise`` is a sample to
        add (shape broadcastable to theta); if None and the impairment is on, one is drawn.
        """
        theta, _ = self._check_theta(theta)
        imp = self.impairments
        th = theta
        active = None
        if imp.bits is not None:
            th = quantize_phases(th, imp.bits)
        if imp.stuck_mask is not None:
            th = np.where(imp.stuck_mask, imp.stuck_phase, th)
            active = ~imp.stuck_mask
        if phase_noise is None:
            phase_noise = imp.draw_phase_noise(th.shape, self._rng)
        if phase_noise is not None:
            th = th + phase_noise
        e = np.exp(1j * th)
        if imp.amplitude is not None:
            a_m, da_m = imp.amplitude.value_and_derivative(th)
        else:
            a_m, da_m = 1.0, 0.0
        a_ext = 1.0 if amplitude is None else np.broadcast_to(np.asarray(amplitude, float), theta.shape)
        dd_da = a_m * e
        d = a_ext * dd_da
        dd_dtheta = 1j * d + (a_ext * da_m) * e if imp.amplitude is not None else 1j * d
        if active is not None:
            dd_dtheta = dd_dtheta * active
        dd_da = np.broadcast_to(dd_da, theta.shape)
        return d, dd_dtheta, dd_da

    # ------------------------------------------------------------------ forward / backward
    def _forward(self, theta, amplitude, phase_noise, layers=None) -> _Forward:
        theta, single = self._check_theta(theta)
        d, dd_dtheta, dd_da = self.layer_responses(theta, amplitude, phase_noise) if layers is None else layers
        d = np.ascontiguousarray(d.transpose(1, 2, 0)).astype(self.dtype, copy=False)  # (L, N, B)
        B, F, N = theta.shape[0], self.n_freqs, self.n_atoms
        m_in = self.n_inputs
        xs = []
        if self._w_in is None:
            xs.append(None)
            u = self._identity_field(d[0], B)
        else:
            x = np.broadcast_to(self._w_in[:, :, None, :], (F, N, B, m_in))
            xs.append(x)
            u = (x * d[0][None, :, :, None]).reshape(F, N, B * m_in)
        for l in range(1, self.n_layers):
            x = np.matmul(self._w_next[l - 1], u).reshape(F, N, B, m_in)
            xs.append(x)
            u = (x * d[l][None, :, :, None]).reshape(F, N, B * m_in)
        h = u if self._w_out is None else np.matmul(self._w_out, u)
        return _Forward(
            np.ascontiguousarray(h), xs, d, dd_dtheta.transpose(1, 2, 0), dd_da.transpose(1, 2, 0), B, single
        )

    def _identity_field(self, d0: np.ndarray, batch: int) -> np.ndarray:
        """Field leaving layer 1 when the input is the identity (uplink G): diag(d0) per config."""
        N, F = self.n_atoms, self.n_freqs
        u = np.zeros((N, batch, N), dtype=self.dtype)
        u[np.arange(N), :, np.arange(N)] = d0
        return np.broadcast_to(u.reshape(1, N, batch * N), (F, N, batch * N))

    def _to_response(self, fw: _Forward) -> np.ndarray:
        F, m_out = fw.h.shape[:2]
        h = fw.h.reshape(F, m_out, fw.batch, -1).transpose(2, 0, 1, 3)
        return h[0] if fw.single else h

    def _backward(self, fw: _Forward, g_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        F, m_out, B = self.n_freqs, self.n_outputs, fw.batch
        m_in, N = self.n_inputs, self.n_atoms
        g_h = np.asarray(g_h)
        if fw.single:
            g_h = g_h[None]
        if g_h.shape != (B, F, m_out, m_in):
            raise ValueError(f"loss gradient must have the response's shape {(B, F, m_out, m_in)}, got {g_h.shape}")
        g = np.ascontiguousarray(g_h.transpose(1, 2, 0, 3)).reshape(F, m_out, B * m_in).astype(self.dtype, copy=False)
        g_u = g if self._w_out_h is None else np.matmul(self._w_out_h, g)
        grad_theta = np.empty((self.n_layers, N, B))
        grad_amp = np.empty((self.n_layers, N, B))
        for l in range(self.n_layers - 1, -1, -1):
            g4 = g_u.reshape(F, N, B, m_in)
            x = fw.xs[l]
            if x is None:  # identity input: x = I, only the diagonal of g_u contributes
                t = np.conj(np.einsum("fnbn->nb", g4))
            else:
                t = np.einsum("fnbm,fnbm->nb", np.conj(g4), x)
            grad_theta[l] = np.real(fw.dd_dtheta[l] * t)
            grad_amp[l] = np.real(fw.dd_da[l] * t)
            if l > 0:
                g_x = (g4 * np.conj(fw.d[l])[None, :, :, None]).reshape(F, N, B * m_in)
                g_u = np.matmul(self._w_next_h[l - 1], g_x)
        grad_theta = grad_theta.transpose(2, 0, 1)
        grad_amp = grad_amp.transpose(2, 0, 1)
        if fw.single:
            return grad_theta[0], grad_amp[0]
        return grad_theta, grad_amp

    # ------------------------------------------------------------------ public API
    def response(self, theta, amplitude=None, phase_noise=None, layers=None) -> np.ndarray:
        """End-to-end response(s) for phase configuration(s) ``theta`` (rad).

        ``layers``: a precomputed :meth:`layer_responses` result for these phases, if at hand.
        """
        return self._to_response(self._forward(theta, amplitude, phase_noise, layers))

    def value_and_grad(self, theta, loss: LossFn, amplitude=None, phase_noise=None) -> GradientResult:
        """Evaluate ``loss(H) -> (value, dL/dH)`` and its gradients with respect to phases and amplitudes.

        The loss receives the response in the shape :meth:`response` returns and must return the
        complex gradient g = dL/dRe(H) + 1j dL/dIm(H) of the same shape.
        """
        fw = self._forward(theta, amplitude, phase_noise)
        h = self._to_response(fw)
        value, g_h = loss(h)
        grad_theta, grad_amp = self._backward(fw, g_h)
        return GradientResult(float(value), grad_theta, grad_amp, h)

    def vjp(self, theta, g_h, amplitude=None, phase_noise=None) -> tuple[np.ndarray, np.ndarray]:
        """Pull a response cotangent ``g_h`` back to (dL/dtheta, dL/damplitude)."""
        return self._backward(self._forward(theta, amplitude, phase_noise), g_h)

    def matrix_vjp(self, theta, g_h, amplitude=None, phase_noise=None, phases: bool = False) -> tuple:
        """Pull a response cotangent back to the propagation matrices of the cascade.

        Returns (dL/dw_in, dL/dw_layers, dL/dw_out) in the complex-gradient convention, shaped like
        ``cascade.w_in``, ``cascade.w_layers`` and ``cascade.w_out`` (zeros for a matrix the
        convention leaves out). This is what calibration differentiates through. With
        ``phases=True`` it also returns dL/dtheta and dL/damplitude (B, L, N) from the same sweep.
        """
        return self._matrix_backward(self._forward(theta, amplitude, phase_noise), g_h, phases)

    def response_and_matrix_vjp(self, theta, cotangent, amplitude=None, phases: bool = False, layers=None):
        """One forward pass: h = response, g_h = ``cotangent(h)``, then :meth:`matrix_vjp`'s sweep.

        Returns (h, g_h, gradients...). ``layers`` may carry a precomputed
        :meth:`layer_responses` result for these phases (a fit re-evaluates fixed pilots often).
        """
        fw = self._forward(theta, amplitude, None, layers)
        h = self._to_response(fw)
        g_h = cotangent(h)
        return (h, g_h, *self._matrix_backward(fw, g_h, phases))

    def _matrix_backward(self, fw: _Forward, g_h, phases: bool) -> tuple:
        F, B, N, m_in = self.n_freqs, fw.batch, self.n_atoms, self.n_inputs
        g_h = np.asarray(g_h)
        if fw.single:
            g_h = g_h[None]
        g = np.ascontiguousarray(g_h.transpose(1, 2, 0, 3)).reshape(F, self.n_outputs, B * m_in).astype(self.dtype)

        def u_of(l):  # the field leaving layer l (before coupling), (F, N, B*m_in)
            x = fw.xs[l]
            if x is None:
                return self._identity_field(fw.d[0], B)
            return (x * fw.d[l][None, :, :, None]).reshape(F, N, B * m_in)

        c = (
            coupling_matrix(N, self.impairments.coupling, self.impairments.coupling_band).astype(self.dtype)
            if self.impairments.coupling
            else None
        )
        g_w_out = np.zeros_like(self.cascade.w_out)
        g_w_layers = np.zeros_like(self.cascade.w_layers)
        g_w_in = np.zeros_like(self.cascade.w_in)
        u_last = u_of(self.n_layers - 1)
        if self._w_out is not None and self.convention != "downlink":
            gw = np.matmul(g, np.conj(u_last).transpose(0, 2, 1))
            g_w_out = gw if c is None else gw @ c
        g_u = g if self._w_out_h is None else np.matmul(self._w_out_h, g)
        if phases:
            grad_theta = np.empty((self.n_layers, N, B))
            grad_amp = np.empty((self.n_layers, N, B))
        for l in range(self.n_layers - 1, -1, -1):
            if phases:
                x = fw.xs[l]
                g4 = g_u.reshape(F, N, B, m_in)
                t = np.conj(np.einsum("fnbn->nb", g4)) if x is None else np.einsum("fnbm,fnbm->nb", np.conj(g4), x)
                grad_theta[l] = np.real(fw.dd_dtheta[l] * t)
                grad_amp[l] = np.real(fw.dd_da[l] * t)
            g_x = g_u.reshape(F, N, B, m_in) * np.conj(fw.d[l])[None, :, :, None]
            if l > 0:
                gx2 = g_x.reshape(F, N, B * m_in)
                gw = np.matmul(gx2, np.conj(u_of(l - 1)).transpose(0, 2, 1))
                g_w_layers[l - 1] = gw if c is None else gw @ c
                g_u = np.matmul(self._w_next_h[l - 1], gx2)
            elif self._w_in is not None:
                g_w_in = g_x.sum(axis=2)
        if phases:
            gt, ga = grad_theta.transpose(2, 0, 1), grad_amp.transpose(2, 0, 1)
            if fw.single:
                gt, ga = gt[0], ga[0]
            return g_w_in, g_w_layers, g_w_out, gt, ga
        return g_w_in, g_w_layers, g_w_out

    def with_impairments(self, impairments: Impairments) -> SIMModel:
        return SIMModel(self.cascade, impairments, self.convention, self._rng)

    def with_convention(self, convention: str) -> SIMModel:
        return SIMModel(self.cascade, self.impairments, convention, self._rng)
