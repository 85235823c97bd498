"""What a calibration estimates: a parameterization maps a real vector x to a propagation cascade.

Seed 002 (sec. III, V-E) leaves the model form open; three are offered here, picked by name with
:func:`make_parameterization`:

``physical``  per-layer spacing, in-plane offset and rotation (:mod:`calibration.physical`): 3L
              numbers, every matrix computed from positions, so no diagonal-scaling ambiguity.
``hybrid``    physical plus small corrective terms: a complex transmission gain per atom,
              exp(u + 1j v), shared across frequencies and pulled towards 1 by a ridge penalty,
              and (with ``levels`` = 2^bits) the atoms' response to each code level, r_q =
              exp(a_q + 1j b_q) relative to the nominal exp(1j 2 pi q / 2^bits), r_0 = 1 as the
              reference. They absorb what positions cannot explain: atom-to-atom phase offsets,
              thermal phase drift, and the phase-dependent amplitude and phase errors of real
              atoms ([7] Practical phase shift model), which no geometry can mimic.
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

from calibration.base import Parameterization, _check_geometry_frequencies
from calibration.network import NetworkParameterization
from calibration.physical import PhysicalParameterization
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.propagation import Cascade, cascade_matrices
from simhw.values.bench_choices import CALIBRATION_FAMILIES

__all__ = [
    "Parameterization",
    "HybridParameterization",
    "FreeFormParameterization",
    "make_parameterization",
    "bench_parameterization",
    "PARAMETERIZATIONS",
    "AUTO",
]


class HybridParameterization(Parameterization):
    """Physical parameters plus corrective terms, each optional, in this order in x:

    ``atom_gains``     log-gain u (L, N) and phase v (L, N) of every atom (ridge ``ridge``)
    ``levels``         log-amplitude a_q and phase b_q of code levels 1 .. levels-1 (level 0 = 1)
    ``coupling_band``  real coupling c_k between atoms k = 1 .. band apart on the flattened index:
                       C = I + sum_k c_k (S_k + S_k^T), after each layer's response (docs/physics.md,
                       sec. 3), shared by all layers (ridge ``ridge``)

    The propagation leaving layer l is W_l C diag(exp(u_l + 1j v_l)).
    """

    name = "hybrid"

    def __init__(
        self,
        ideal: SimGeometry,
        channel: str = "physical",
        ridge: float = 1e-5,
        levels: int | None = None,
        atom_gains: bool = True,
        coupling_band: int = 0,
        receivers: str = "gain",
    ):
        super().__init__(ideal, channel, receivers)
        self.physical = PhysicalParameterization(ideal, channel, receivers)
        self.ridge = ridge
        if levels is not None and not (isinstance(levels, (int, np.integer)) and levels >= 2):
            raise ValueError(f"levels must be None or an integer >= 2 (2^bits), got {levels!r}")
        if not (isinstance(coupling_band, (int, np.integer)) and 0 <= coupling_band < ideal.n_atoms):
            raise ValueError(f"coupling_band must be an integer in [0, {ideal.n_atoms}), got {coupling_band!r}")
        self.levels = None if levels is None else int(levels)
        L, N = ideal.n_layers, ideal.n_atoms
        self.n_gain = 2 * L * N if atom_gains else 0
        self.n_lut = 0 if levels is None else 2 * (self.levels - 1)
        self.n_coupling = int(coupling_band)
        n0 = self.physical.n_params
        self._gain = slice(n0, n0 + self.n_gain)
        self._lut = slice(self._gain.stop, self._gain.stop + self.n_lut)
        self._coupling = slice(self._lut.stop, self._lut.stop + self.n_coupling)
        self.n_params = self._coupling.stop
        self.scale = np.concatenate(
            [self.physical.scale, np.full(self.n_gain, 0.01), np.full(self.n_lut, 0.1), np.full(self.n_coupling, 0.01)]
        )
        idx = np.arange(N)
        self._distance = np.abs(idx[:, None] - idx[None, :])

    @property
    def n_identified(self) -> int:
        return self.physical.n_params + self.n_lut

    def split(self, x):
        x = self.check(x)
        L, N = self.ideal.n_layers, self.ideal.n_atoms
        p = x[: self.physical.n_params]
        if not self.n_gain:
            return p, np.zeros((L, N)), np.zeros((L, N))
        g = x[self._gain].reshape(2, L, N)
        return p, g[0], g[1]

    def gains(self, x) -> np.ndarray:
        """(L, N) complex transmission gain of every atom."""
        _, u, v = self.split(x)
        return np.exp(u + 1j * v)

    def coupling(self, x) -> np.ndarray | None:
        """(N, N) coupling matrix C, or None without the coupling term."""
        if not self.n_coupling:
            return None
        c = np.concatenate([[1.0], self.check(x)[self._coupling]])
        d = self._distance
        return np.where(d <= self.n_coupling, c[np.minimum(d, self.n_coupling)], 0.0)

    def atom_response(self, x) -> np.ndarray | None:
        """(levels,) complex response of each code level relative to nominal (r_0 = 1), or None."""
        if self.levels is None:
            return None
        lut = self.check(x)[self._lut].reshape(2, -1)
        return np.concatenate([[1.0 + 0j], np.exp(lut[0] + 1j * lut[1])])

    def atom_response_vjp(self, x, levels: np.ndarray, grad_theta: np.ndarray, grad_amp: np.ndarray) -> np.ndarray:
        """dL/dx of the level table from dL/dtheta and dL/damplitude (B, L, N) at level indices ``levels``."""
        g = np.zeros(self.n_params)
        if self.levels is None:
            return g
        r = self.atom_response(x)
        q = levels.ravel()
        d_phase = np.bincount(q, grad_theta.ravel(), self.levels)
        d_amp = np.bincount(q, grad_amp.ravel(), self.levels) * np.abs(r)
        g[self._lut] = np.concatenate([d_amp[1:], d_phase[1:]])
        return g

    @property
    def n_physical(self) -> int:
        return self.physical.n_params

    def cascade_and_jvp(self, x, frequencies=None):
        """(Cascade, jvp): the matrices' change along a change dp of the physical parameters (x[:3L]),
        the corrective terms held where x has them (:mod:`calibration.fisher`)."""
        p, u, v = self.split(x)
        base, jvp_p = self.physical.cascade_and_jvp(p, frequencies)
        cpl = self.coupling(x)
        g = np.exp(u + 1j * v)

        def mix(w_layers, w_out):
            if cpl is not None:
                w_layers, w_out = w_layers @ cpl, w_out @ cpl
            return w_layers * g[:-1, None, None, :], w_out * g[-1][None, None, :]

        cascade = Cascade(base.w_in, *mix(base.w_layers, base.w_out), base.frequencies)

        def jvp(dp):
            d_in, d_layers, d_out = jvp_p(dp)
            return (d_in, *mix(d_layers, d_out))

        return cascade, jvp

    def cascade_and_vjp(self, x, frequencies=None):
        p, u, v = self.split(x)
        base, vjp_p = self.physical.cascade_and_vjp(p, frequencies)
        cpl = self.coupling(x)
        g = np.exp(u + 1j * v)  # (L, N): gain of layer l's atoms
        m_layers = base.w_layers if cpl is None else base.w_layers @ cpl
        m_out = base.w_out if cpl is None else base.w_out @ cpl
        cascade = Cascade(base.w_in, m_layers * g[:-1, None, None, :], m_out * g[-1][None, None, :], base.frequencies)

        def vjp(g_w_in, g_w_layers, g_w_out):
            g_ml = g_w_layers * np.conj(g[:-1, None, None, :])
            g_mo = g_w_out * np.conj(g[-1])
            out = np.zeros(self.n_params)
            if cpl is None:
                out[: self.physical.n_params] = vjp_p(g_w_in, g_ml, g_mo)
            else:
                out[: self.physical.n_params] = vjp_p(g_w_in, g_ml @ cpl, g_mo @ cpl)
                g_c = (
                    np.einsum("lfki,lfkj->ij", np.conj(base.w_layers), g_ml)
                    + np.einsum("fki,fkj->ij", np.conj(base.w_out), g_mo)
                ).real
                d = self._distance.ravel()
                keep = d <= self.n_coupling
                out[self._coupling] = np.bincount(d[keep], g_c.ravel()[keep], self.n_coupling + 1)[1:]
            if self.n_gain:
                g_g = np.empty_like(g)
                g_g[:-1] = np.einsum("lfij,lfij->lj", g_w_layers, np.conj(m_layers))
                g_g[-1] = np.einsum("fij,fij->j", g_w_out, np.conj(m_out))
                t = (np.conj(g_g) * g).ravel()
                out[self._gain] = np.concatenate([np.real(t), -np.imag(t)])
            return out

        return cascade, vjp

    def penalty(self, x):
        x = self.check(x)
        g = np.zeros(self.n_params)
        value = 0.0
        for sl in (self._gain, self._coupling):
            g[sl] = 2 * self.ridge * x[sl]
            value += float(self.ridge * x[sl] @ x[sl])
        return value, g

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        return np.concatenate(
            [
                self.physical.prior(bounds),
                np.full(self.n_gain, 0.05),
                np.full(self.n_lut, 0.5),
                np.full(self.n_coupling, 0.1),
            ]
        )


class FreeFormParameterization(Parameterization):
    """Interlayer and output matrices as free deviations from the ideal ones (per frequency).

    x holds the real and imaginary parts of (W - W_ideal) / s for every entry of ``w_layers`` and
    ``w_out``, s the RMS magnitude of the ideal matrix. ``ridge`` fixes the diagonal gauge (see
    the module docstring). The input matrix comes from the ideal geometry (and the channel model).
    """

    name = "free"

    def __init__(self, ideal: SimGeometry, channel: str = "free", ridge: float = 1e-4, receivers: str = "gain"):
        super().__init__(ideal, channel, receivers)
        self.ridge = ridge
        self._ideal = cascade_matrices(ideal)
        self._shapes = (self._ideal.w_layers.shape, self._ideal.w_out.shape)
        self._sizes = tuple(int(np.prod(s)) for s in self._shapes)
        self.n_params = 2 * sum(self._sizes)
        self._rms = np.array(
            [
                np.sqrt(np.mean(np.abs(self._ideal.w_layers) ** 2)) if self._sizes[0] else 1.0,
                np.sqrt(np.mean(np.abs(self._ideal.w_out) ** 2)),
            ]
        )
        self.scale = np.ones(self.n_params)

    def _ideal_at(self, frequencies) -> Cascade:
        f = _check_geometry_frequencies(self.ideal, frequencies)
        if np.array_equal(f, self._ideal.frequencies):
            return self._ideal
        if f.size != self._ideal.frequencies.size:
            raise ValueError(
                f"the free-form model was built for {self._ideal.frequencies.size} frequencies, "
                f"data have {f.size}: build it with SimGeometry.with_frequencies(data frequencies)"
            )
        return cascade_matrices(self.ideal.with_frequencies(f))

    def cascade_and_vjp(self, x, frequencies=None):
        x = self.check(x)
        ref = self._ideal_at(frequencies)
        n1, n2 = self._sizes
        z = x[: n1 + n2] + 1j * x[n1 + n2 :]
        w_layers = ref.w_layers + self._rms[0] * z[:n1].reshape(self._shapes[0])
        w_out = ref.w_out + self._rms[1] * z[n1:].reshape(self._shapes[1])
        cascade = Cascade(ref.w_in, w_layers, w_out, ref.frequencies)

        def vjp(g_w_in, g_w_layers, g_w_out):
            g = np.concatenate(
                [self._rms[0] * np.asarray(g_w_layers).ravel(), self._rms[1] * np.asarray(g_w_out).ravel()]
            )
            return np.concatenate([g.real, g.imag])

        return cascade, vjp

    def penalty(self, x):
        x = self.check(x)
        return float(self.ridge * x @ x), 2 * self.ridge * x

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        return np.full(self.n_params, 0.1)


def make_parameterization(name: str, ideal: SimGeometry, channel: str | None = None, **kw) -> Parameterization:
    """Build the parameterization called ``name`` ('physical', 'hybrid' or 'free') around ``ideal``."""
    classes = {"physical": PhysicalParameterization, "hybrid": HybridParameterization, "free": FreeFormParameterization}
    try:
        cls = classes[name]
    except KeyError:
        raise ValueError(f"unknown parameterization {name!r}; choose one of {sorted(classes)}") from None
    if channel is not None:
        kw["channel"] = channel
    return cls(ideal, **kw)


PARAMETERIZATIONS = CALIBRATION_FAMILIES
AUTO = ("hybrid", "multiport")  # the families "auto" fits and lets the validation set choose from


def bench_parameterization(name: str, ideal: SimGeometry, bits: int, atom_gains: bool = False, receivers: str = "gain"):
    """The model a bench calibration uses: ``hybrid`` gets a response per code level and coupling up to 5
    atoms apart (per-atom gains only on request: they need many more pilots); ``multiport`` is the
    network family of :mod:`calibration.network` with every term; ``receivers`` the receive terms
    (:mod:`calibration.receivers`). ``auto`` gives the list of the families in ``AUTO``: a calibrator
    fits each and keeps the one its validation set prefers."""
    if name == "auto":
        return [bench_parameterization(n, ideal, bits, atom_gains, receivers) for n in AUTO]
    if name == "multiport":
        return NetworkParameterization(ideal, bits, receivers=receivers)
    options = {"levels": 1 << bits, "atom_gains": atom_gains, "coupling_band": 5} if name == "hybrid" else {}
    return make_parameterization(name, ideal, receivers=receivers, **options)
