"""What a calibration estimates: a parameterization maps a real vector x to a propagation cascade.

Seed 002 (sec. III, V-E) leaves the model form open; three are offered here, picked by name with
:func:`make_parameterization`:

``physical``  per-layer spacing, in-plane offset and rotation (:mod:`calibration.physical`): 3L
              numbers, every matrix computed from positions, so no diagonal-scaling ambiguity.
``hybrid``    physical plus a small corrective term: a complex transmission gain per atom,
              exp(u + 1j v), shared across frequencies and pulled towards 1 by a ridge penalty.
              It absorbs what positions cannot explain (atom-to-atom phase offsets, mean
              amplitude loss, thermal phase drift).
``free``      every interlayer and output matrix free (per frequency), as deviations from the
              ideal matrices. W_{l+1} Phi_l W_l = (W_{l+1} D^-1) Phi_l (D W_l) for any invertible
              diagonal D, so single matrices are only defined up to such D: the ridge penalty
              picks, among all equivalent solutions, the one closest to the ideal model, and
              per-layer metrics first align the estimate to the reference with the best diagonal
              gauge (:func:`calibration.metrics.align_gauge`).

The test (UE) channel: with ``channel="physical"`` it is the ideal-model channel from the test
antenna's nominal position to layer 1 as placed by x, times one complex gain per frequency (the
antenna's unknown gain and cable phase), solved in closed form. With ``channel="free"`` it is
N free complex numbers per frequency, solved by least squares. Both are eliminated inside the
fit (variable projection), so optimisers only see x.

A parameterization provides ``cascade_and_vjp(x, frequencies) -> (Cascade, vjp)`` where
``vjp(g_w_in, g_w_layers, g_w_out)`` pulls complex matrix gradients back to dL/dx, a ``scale`` per
parameter (so x / scale is O(1)), ``prior(bounds)`` half-widths for sampling estimators and an
optional ``penalty(x) -> (value, gradient)``.
"""

from __future__ import annotations

import numpy as np

from simhw.geometry import FabricationErrors, SimGeometry
from simhw.propagation import Cascade, cascade_matrices

__all__ = ["Parameterization", "HybridParameterization", "FreeFormParameterization", "make_parameterization",
           "PARAMETERIZATIONS"]

CHANNELS = ("physical", "free")


class Parameterization:
    """Base class: a map x -> Cascade around an ideal geometry, with its vector-Jacobian product."""

    name = ""

    def __init__(self, ideal: SimGeometry, channel: str = "physical"):
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        self.ideal = ideal
        self.channel = channel
        self.n_params = 0
        self.scale = np.ones(0)

    @property
    def n_identified(self) -> int:
        """Parameters the data alone must determine (those not held by a penalty)."""
        return self.n_params

    def initial(self) -> np.ndarray:
        """The ideal model's parameters (the gradient estimator's starting point)."""
        return np.zeros(self.n_params)

    def check(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        if x.shape != (self.n_params,):
            raise ValueError(f"{self.name} parameterization expects {self.n_params} parameters, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("parameters contain NaN or infinite values")
        return x

    def cascade_and_vjp(self, x, frequencies=None):
        raise NotImplementedError

    def cascade(self, x, frequencies=None) -> Cascade:
        return self.cascade_and_vjp(x, frequencies)[0]

    def penalty(self, x) -> tuple[float, np.ndarray]:
        return 0.0, np.zeros(self.n_params)

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        """Half-widths of a box around :meth:`initial` that holds every plausible x."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "channel": self.channel, "n_params": self.n_params}


def _check_geometry_frequencies(ideal: SimGeometry, frequencies):
    return ideal.frequencies if frequencies is None else np.atleast_1d(np.asarray(frequencies, float))


class HybridParameterization(Parameterization):
    """Physical parameters followed by per-atom log-gains u (L, N) and phases v (L, N)."""

    name = "hybrid"

    def __init__(self, ideal: SimGeometry, channel: str = "physical", ridge: float = 1e-3):
        from .physical import PhysicalParameterization

        super().__init__(ideal, channel)
        self.physical = PhysicalParameterization(ideal, channel)
        self.ridge = ridge
        L, N = ideal.n_layers, ideal.n_atoms
        self.n_gain = 2 * L * N
        self.n_params = self.physical.n_params + self.n_gain
        self.scale = np.concatenate([self.physical.scale, np.full(self.n_gain, 0.01)])

    @property
    def n_identified(self) -> int:
        return self.physical.n_params

    def split(self, x):
        x = self.check(x)
        L, N = self.ideal.n_layers, self.ideal.n_atoms
        g = x[self.physical.n_params:].reshape(2, L, N)
        return x[:self.physical.n_params], g[0], g[1]

    def gains(self, x) -> np.ndarray:
        """(L, N) complex transmission gain of every atom."""
        _, u, v = self.split(x)
        return np.exp(u + 1j * v)

    def cascade_and_vjp(self, x, frequencies=None):
        p, u, v = self.split(x)
        base, vjp_p = self.physical.cascade_and_vjp(p, frequencies)
        c = np.exp(u + 1j * v)  # (L, N): gain of layer l's atoms, applied before leaving layer l
        w_layers = base.w_layers * c[:-1, None, None, :]
        w_out = base.w_out * c[-1][None, None, :]
        cascade = Cascade(base.w_in, w_layers, w_out, base.frequencies)

        def vjp(g_w_in, g_w_layers, g_w_out):
            g_p = vjp_p(g_w_in, g_w_layers * np.conj(c[:-1, None, None, :]), g_w_out * np.conj(c[-1]))
            g_c = np.empty_like(c)
            g_c[:-1] = np.einsum("lfij,lfij->lj", g_w_layers, np.conj(base.w_layers))
            g_c[-1] = np.einsum("fij,fij->j", g_w_out, np.conj(base.w_out))
            t = np.conj(g_c) * c
            return np.concatenate([g_p, np.real(t).ravel(), -np.imag(t).ravel()])

        return cascade, vjp

    def penalty(self, x):
        x = self.check(x)
        g = np.zeros(self.n_params)
        tail = x[self.physical.n_params:]
        g[self.physical.n_params:] = 2 * self.ridge * tail
        return float(self.ridge * tail @ tail), g

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        return np.concatenate([self.physical.prior(bounds), np.full(self.n_gain, 0.05)])


class FreeFormParameterization(Parameterization):
    """Interlayer and output matrices as free deviations from the ideal ones (per frequency).

    x holds the real and imaginary parts of (W - W_ideal) / s for every entry of ``w_layers`` and
    ``w_out``, s the RMS magnitude of the ideal matrix. ``ridge`` fixes the diagonal gauge (see
    the module docstring). The input matrix comes from the ideal geometry (and the channel model).
    """

    name = "free"

    def __init__(self, ideal: SimGeometry, channel: str = "free", ridge: float = 1e-4):
        super().__init__(ideal, channel)
        self.ridge = ridge
        self._ideal = cascade_matrices(ideal)
        self._shapes = (self._ideal.w_layers.shape, self._ideal.w_out.shape)
        self._sizes = tuple(int(np.prod(s)) for s in self._shapes)
        self.n_params = 2 * sum(self._sizes)
        self._rms = np.array([np.sqrt(np.mean(np.abs(self._ideal.w_layers) ** 2)) if self._sizes[0] else 1.0,
                              np.sqrt(np.mean(np.abs(self._ideal.w_out) ** 2))])
        self.scale = np.ones(self.n_params)

    def _ideal_at(self, frequencies) -> Cascade:
        f = _check_geometry_frequencies(self.ideal, frequencies)
        if np.array_equal(f, self._ideal.frequencies):
            return self._ideal
        if f.size != self._ideal.frequencies.size:
            raise ValueError(f"the free-form model was built for {self._ideal.frequencies.size} frequencies, "
                             f"data have {f.size}: build it with SimGeometry.with_frequencies(data frequencies)")
        return cascade_matrices(self.ideal.with_frequencies(f))

    def cascade_and_vjp(self, x, frequencies=None):
        x = self.check(x)
        ref = self._ideal_at(frequencies)
        n1, n2 = self._sizes
        z = x[: n1 + n2] + 1j * x[n1 + n2:]
        w_layers = ref.w_layers + self._rms[0] * z[:n1].reshape(self._shapes[0])
        w_out = ref.w_out + self._rms[1] * z[n1:].reshape(self._shapes[1])
        cascade = Cascade(ref.w_in, w_layers, w_out, ref.frequencies)

        def vjp(g_w_in, g_w_layers, g_w_out):
            g = np.concatenate([self._rms[0] * np.asarray(g_w_layers).ravel(), self._rms[1] * np.asarray(g_w_out).ravel()])
            return np.concatenate([g.real, g.imag])

        return cascade, vjp

    def penalty(self, x):
        x = self.check(x)
        return float(self.ridge * x @ x), 2 * self.ridge * x

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        return np.full(self.n_params, 0.1)


def make_parameterization(name: str, ideal: SimGeometry, channel: str | None = None, **kw) -> Parameterization:
    """Build the parameterization called ``name`` ('physical', 'hybrid' or 'free') around ``ideal``."""
    from .physical import PhysicalParameterization

    classes = {"physical": PhysicalParameterization, "hybrid": HybridParameterization,
               "free": FreeFormParameterization}
    try:
        cls = classes[name]
    except KeyError:
        raise ValueError(f"unknown parameterization {name!r}; choose one of {sorted(classes)}") from None
    if channel is not None:
        kw["channel"] = channel
    return cls(ideal, **kw)


PARAMETERIZATIONS = ("physical", "hybrid", "free")
