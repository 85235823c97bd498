"""Physical parameterization of a SIM's propagation: per-layer spacing, in-plane offset, rotation.

Seed 002 (sec. II-B, V-E) suggests compact models whose parameters are the physical errors: a
handful of numbers per layer and no diagonal-scaling ambiguity, because every matrix is computed
from positions. Parameters, in this order, each ``n_layers`` long:

    spacing[l]  change of the gap before layer l (m)      (E-I)
    offset[l]   in-plane shift of layer l along y (m)     (E-V)
    rotation[l] in-plane rotation of layer l (rad)        (E-P)

The matrices are Rayleigh-Sommerfeld (docs/physics.md, sec. 1). Their derivatives with respect to
the parameters are analytic: with w = A d (1/(2 pi r^3) - 1j/(lambda r^2)) exp(1j k r),
d the normal distance and r the distance,

    dw/dr = A d exp(1j k r) (-3/(2 pi r^4) + 2j/(lambda r^3) + 1j k (1/(2 pi r^3) - 1j/(lambda r^2)))
    dw/dDelta = dw/dr * Delta / r,  plus w / d on the normal component,

chained to atom positions and from positions to the parameters.
"""

from __future__ import annotations

import numpy as np

from calibration.base import Parameterization
from simhw.physics.geometry import SPEED_OF_LIGHT, ErrorDraw, FabricationErrors, SimGeometry
from simhw.physics.propagation import Cascade, cascade_matrices

__all__ = ["PhysicalParameterization"]


def _rs_parts(src: np.ndarray, dst: np.ndarray, lam: np.ndarray, area: float):
    """RS matrices (F, Nd, Ns) and their gradients with respect to Delta = dst - src, (F, Nd, Ns, 3)."""
    delta = dst[:, None, :] - src[None, :, :]
    r = np.linalg.norm(delta, axis=-1)
    d = delta[..., 2]
    lam = lam[:, None, None]
    k = 2 * np.pi / lam
    e = np.exp(1j * k * r)
    core = 1.0 / (2 * np.pi * r**3) - 1j / (lam * r**2)
    w = area * d * core * e
    dw_dr = area * d * e * (-3.0 / (2 * np.pi * r**4) + 2j / (lam * r**3) + 1j * k * core)
    grad = dw_dr[..., None] * (delta / r[..., None])
    grad[..., 2] += w / d
    return w, grad


class PhysicalParameterization(Parameterization):
    """Maps physical error parameters to a :class:`Cascade` and pulls matrix gradients back to them."""

    name = "physical"

    def __init__(self, ideal: SimGeometry, channel: str = "physical", receivers: str = "gain"):
        super().__init__(ideal, channel, receivers)
        self.n_layers = ideal.n_layers
        self.n_params = 3 * ideal.n_layers
        # scales that make each parameter O(1) for the optimiser: lambda/100, lambda/100, 0.1 degree
        lam = SPEED_OF_LIGHT / ideal.carrier
        self.scale = np.concatenate(
            [
                np.full(self.n_layers, lam / 100),
                np.full(self.n_layers, lam / 100),
                np.full(self.n_layers, np.radians(0.1)),
            ]
        )

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        L = self.n_layers
        return np.concatenate([np.full(L, bounds.spacing), np.full(L, bounds.offset), np.full(L, bounds.rotation)])

    def draw(self, p: np.ndarray) -> ErrorDraw:
        p = self.check(p)
        L = self.n_layers
        return ErrorDraw(spacing=p[:L], offset=p[L : 2 * L], rotation=p[2 * L :])

    def params_of(self, draw: ErrorDraw) -> np.ndarray:
        return np.concatenate([draw.spacing, draw.offset, draw.rotation])

    def geometry(self, p, frequencies=None) -> SimGeometry:
        g = self.ideal if frequencies is None else self.ideal.with_frequencies(frequencies)
        return g.with_errors(None, draw=self.draw(p))

    def cascade(self, p, frequencies=None) -> Cascade:
        return cascade_matrices(self.geometry(p, frequencies))

    @property
    def n_physical(self) -> int:
        return self.n_params

    def cascade_and_jvp(self, p, frequencies=None):
        """(Cascade, jvp) where jvp(dp) -> (dW_in, dW_layers, dW_out): the matrices' change along dp
        (forward mode, what a Fisher information needs: :mod:`calibration.fisher`)."""
        cascade, (L, N, gd_in, gd_layers, gd_out, grid, rot) = self._parts(p, frequencies)

        def jvp(dp) -> tuple:
            dp = np.asarray(dp, float)
            dpos = np.zeros((L, N, 3))
            dpos[:, :, 2] += np.cumsum(dp[:L])[:, None]  # gap j moves layers j..L-1
            dpos[:, :, 1] += dp[L : 2 * L, None]
            c, s = np.cos(rot), np.sin(rot)
            dxy = np.stack(
                [
                    -s[:, None] * grid[None, :, 0] - c[:, None] * grid[None, :, 1],
                    c[:, None] * grid[None, :, 0] - s[:, None] * grid[None, :, 1],
                ],
                axis=-1,
            )
            dpos[:, :, :2] += dp[2 * L :, None, None] * dxy
            d_in = np.einsum("fdsk,dk->fds", gd_in, dpos[0])
            d_layers = (
                np.stack(
                    [
                        np.einsum("fdsk,dsk->fds", gd_layers[l], dpos[l + 1][:, None] - dpos[l][None])
                        for l in range(L - 1)
                    ]
                )
                if L > 1
                else np.empty((0,) + cascade.w_layers.shape[1:])
            )
            d_out = -np.einsum("fdsk,sk->fds", gd_out, dpos[-1])
            return d_in, d_layers, d_out

        return cascade, jvp

    def _parts(self, p, frequencies=None):
        geom = self.geometry(p, frequencies)
        lam = SPEED_OF_LIGHT / geom.frequencies
        atoms = geom.atom_positions()  # (L, N, 3)
        L, N = self.n_layers, geom.n_atoms
        inp, out = geom.input_antennas, geom.output_antennas
        w_in, gd_in = _rs_parts(inp.positions, atoms[0], lam, inp.area)
        w_layers, gd_layers = [], []
        for l in range(L - 1):
            w, gd = _rs_parts(atoms[l], atoms[l + 1], lam, geom.atom_area)
            w_layers.append(w)
            gd_layers.append(gd)
        w_out, gd_out = _rs_parts(atoms[-1], out.positions, lam, geom.atom_area)
        cascade = Cascade(
            w_in,
            np.stack(w_layers) if w_layers else np.empty((0, lam.size, N, N), complex),
            w_out,
            geom.frequencies.copy(),
        )
        return cascade, (L, N, gd_in, gd_layers, gd_out, geom.nominal_atom_grid(), geom.rotations)

    def cascade_and_vjp(self, p, frequencies=None):
        """(Cascade, vjp) where vjp(g_w_in, g_w_layers, g_w_out) -> dL/dp (n_params,)."""
        cascade, (L, N, gd_in, gd_layers, gd_out, grid, rot) = self._parts(p, frequencies)

        def vjp(g_w_in, g_w_layers, g_w_out) -> np.ndarray:
            pos = np.zeros((L, N, 3))  # dL / d(atom position)

            def pull(g_w, gd):  # -> dL/dDelta (Nd, Ns, 3)
                return np.real(np.conj(g_w)[..., None] * gd).sum(axis=0)

            pos[0] += pull(g_w_in, gd_in).sum(axis=1)  # layer 1 is the destination
            for l in range(L - 1):
                dd = pull(g_w_layers[l], gd_layers[l])
                pos[l + 1] += dd.sum(axis=1)
                pos[l] -= dd.sum(axis=0)
            pos[-1] -= pull(g_w_out, gd_out).sum(axis=0)  # last layer is the source
            d_spacing = np.cumsum(pos[:, :, 2].sum(axis=1)[::-1])[::-1]  # gap l moves layers l..L-1
            d_offset = pos[:, :, 1].sum(axis=1)
            c, s = np.cos(rot), np.sin(rot)
            dxy = np.stack(
                [
                    -s[:, None] * grid[None, :, 0] - c[:, None] * grid[None, :, 1],
                    c[:, None] * grid[None, :, 0] - s[:, None] * grid[None, :, 1],
                ],
                axis=-1,
            )
            d_rotation = np.einsum("lnk,lnk->l", pos[:, :, :2], dxy)
            return np.concatenate([d_spacing, d_offset, d_rotation])

        return cascade, vjp
