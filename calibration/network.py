"""The ``multiport`` calibration family: the SIM as a multiport network, fitted term by term.

Seed 003 (sec. II) writes a SIM as a network whose internal ports are terminated by the cells:
H = S_RT + S_RS Theta (I - S_SS Theta)^-1 S_ST. Physics-compliant calibration fits that structure
instead of a cascade of transmissions (docs/physics.md, "Calibrating the multiport network"). The
network's blocks come from the geometry of [3] Interlayer error calibration (per-layer spacing, offset, rotation:
:class:`calibration.physical.PhysicalParameterization`) and from these terms, each optional
(``terms``) and held by a ridge towards its nominal value:

``face``   every face reflects rho_l of what its cells emit (one complex number per stage) and
           couples c_k into the ports k atoms away on the flattened index (|k| <= ``band``, shared
           by all stages): F_l = rho_l I + sum_k c_k (S_k + S_k^T).
``feed``   the feed's illumination of the first layer: a complex weight (1 + f_n) per atom on the
           geometry's feed vector (horn pattern and feed position).
``codes``  the atoms' response per code: t[l, n] = exp(1j 2 pi c / 2^b) (1 + s_c + e[l, n, c]), s a
           table shared by all atoms (s_0 = 0: the reference), e each atom's own deviation (the code
           spread of PIN-diode and varactor cells).

The configuration-independent paths (leakage, multipath) and the receive chain are the receive
terms of :mod:`calibration.receivers`, eliminated in closed form by the fit.

Every complex term enters the network linearly, so the Jacobian of the responses is a product of
the forward and adjoint fields of one batched solve (:mod:`simhw.physics.multiport.batched`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.base import Parameterization
from calibration.physical import PhysicalParameterization
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.multiport.batched import NetworkFields, NetworkModel

__all__ = ["NetworkParameterization", "NetworkBlocks", "TERMS"]

TERMS = ("face", "feed", "codes")
INITIAL_REFLECTION = 0.05  # where a fit starts the faces' reflection (see NetworkParameterization.initial)


@dataclass
class NetworkBlocks:
    """The network at parameters x: the model, the atoms' response table (L, N, K), and the geometry's
    forward derivatives (for the Jacobian)."""

    model: NetworkModel
    response: np.ndarray
    geometry_jvp: object
    feed0: np.ndarray  # (F, N, 1) the geometry's feed vector before the feed weights
    frequencies: np.ndarray


class NetworkParameterization(Parameterization):
    """Geometry (3L real), then the complex terms, as real and imaginary parts, in this order in x:
    reflection (L), coupling (``band``), feed (N), shared code table (K-1), per-atom table (L N K)."""

    name = "multiport"

    def __init__(
        self, ideal: SimGeometry, bits: int, receivers: str = "free", terms=TERMS, band: int = 5, ridge: float = 1e-4
    ):
        super().__init__(ideal, "physical", receivers)
        unknown = set(terms) - set(TERMS)
        if unknown:
            raise ValueError(f"unknown multiport terms {sorted(unknown)}; choose from {TERMS}")
        if not (isinstance(band, (int, np.integer)) and 0 <= band < ideal.n_atoms):
            raise ValueError(f"band must be an integer in [0, {ideal.n_atoms}), got {band!r}")
        self.terms = tuple(t for t in TERMS if t in terms)
        self.physical = PhysicalParameterization(ideal, "physical", receivers)
        self.bits, self.levels, self.band, self.ridge = int(bits), 1 << int(bits), int(band), float(ridge)
        L, N, K = ideal.n_layers, ideal.n_atoms, self.levels
        sizes = {
            "reflection": L if "face" in self.terms else 0,
            "coupling": self.band if "face" in self.terms else 0,
            "feed": N if "feed" in self.terms else 0,
            "levels": K - 1 if "codes" in self.terms else 0,
            "atoms": L * N * K if "codes" in self.terms else 0,
        }
        self.n_physical = self.physical.n_params
        self.blocks_of = {}  # name -> slice of the complex vector z
        start = 0
        for name, size in sizes.items():
            self.blocks_of[name] = slice(start, start + size)
            start += size
        self.n_complex = start
        self.n_params = self.n_physical + 2 * self.n_complex
        self.scale = np.concatenate([self.physical.scale, np.full(2 * self.n_complex, 0.01)])
        idx = np.arange(N)
        self._distance = np.abs(idx[:, None] - idx[None, :])

    # ------------------------------------------------------------------ x <-> parts
    @property
    def n_identified(self) -> int:
        """Parameters the data must pin down: geometry, faces, feed and the shared table (the per-atom
        table is held by its ridge)."""
        return self.n_physical + 2 * (self.n_complex - self._size("atoms"))

    def _size(self, name: str) -> int:
        s = self.blocks_of[name]
        return s.stop - s.start

    def complex_part(self, x) -> np.ndarray:
        x = self.check(x)
        return x[self.n_physical : self.n_physical + self.n_complex] + 1j * x[self.n_physical + self.n_complex :]

    def part(self, x, name: str) -> np.ndarray:
        return self.complex_part(x)[self.blocks_of[name]]

    def faces(self, x) -> np.ndarray:
        """(L, N, N) face blocks."""
        L, N = self.ideal.n_layers, self.ideal.n_atoms
        out = np.zeros((L, N, N), complex)
        if "face" not in self.terms:
            return out
        rho, c = self.part(x, "reflection"), self.part(x, "coupling")
        out += rho[:, None, None] * np.eye(N)
        if self.band:
            ck = np.concatenate([[0.0], c])
            d = self._distance
            out += np.where((d > 0) & (d <= self.band), ck[np.minimum(d, self.band)], 0.0)[None]
        return out

    def atom_response(self, x) -> np.ndarray:
        """(L, N, K) each atom's response per code relative to nominal (1 + s_c + e[l, n, c])."""
        L, N, K = self.ideal.n_layers, self.ideal.n_atoms, self.levels
        r = np.ones((L, N, K), complex)
        if "codes" in self.terms:
            r[..., 1:] += self.part(x, "levels")[None, None, :]
            r += self.part(x, "atoms").reshape(L, N, K)
        return r

    def blocks(self, x, frequencies=None) -> NetworkBlocks:
        p = self.check(x)[: self.n_physical]
        cascade, jvp = self.physical.cascade_and_jvp(p, frequencies)
        feed0 = cascade.w_in[..., :1]
        feed = feed0
        if "feed" in self.terms:
            feed = feed0 * (1 + self.part(x, "feed"))[None, :, None]
        model = NetworkModel(feed, cascade.w_layers, cascade.w_out, self.faces(x))
        return NetworkBlocks(model, self.atom_response(x), jvp, feed0, cascade.frequencies)

    def transmissions(self, x, levels: np.ndarray, response: np.ndarray | None = None) -> np.ndarray:
        """(T, L, N) cell transmissions for code levels (T, L, N)."""
        r = self.atom_response(x) if response is None else response
        L, N = r.shape[:2]
        nominal = np.exp(2j * np.pi * levels / self.levels)
        return nominal * r[np.arange(L)[:, None], np.arange(N)[None, :], levels]

    # ------------------------------------------------------------------ Jacobian
    def jacobian_parts(
        self, x, blocks: NetworkBlocks, fields: NetworkFields, levels: np.ndarray, out_matrix: np.ndarray, gain_jvp=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(d y / d geometry (T, F, P, 3L), d y / d z (T, F, P, n_complex)) at fixed receive terms; y is
        holomorphic in the complex terms z, so d y / d Im(z) = 1j d y / d Re(z).

        ``fields`` solved with the adjoint sources ``out_matrix`` (F, P, N) transposed (y = out_matrix
        a_out_L + leakage); ``gain_jvp(d_out) -> (T, F, P)`` adds what the geometry's output matrix
        contributes (receive modes that keep it), or None.
        """
        T, L, N = levels.shape
        K = self.levels
        lam_in, lam_out = fields.lam()  # (T, F, L, N, P)
        a_in, a_out = fields.a_in[..., 0], fields.a_out[..., 0]  # (T, F, L, N)
        F, P = out_matrix.shape[:2]
        jac_c = np.zeros((T, F, P, self.n_complex), complex)
        if "face" in self.terms:
            jac_c[..., self.blocks_of["reflection"]] = (
                (lam_in * a_in[..., None]).sum(axis=3) + (lam_out * a_out[..., None]).sum(axis=3)
            ).transpose(0, 1, 3, 2)
            # d y / d F[i, j] summed over every face is sum_s lam[i, s] emitted[s, j]; a coupling offset k
            # collects the pairs j = i +- k: shifted products, never the (N, N) matrix per slot
            lam = np.concatenate([lam_in, lam_out], axis=2)  # (T, F, 2L, N, P)
            emitted = np.concatenate([a_in, a_out], axis=2)  # (T, F, 2L, N)
            cpl = self.blocks_of["coupling"]
            for k in range(1, self.band + 1):  # the band's offsets, not atoms
                jac_c[..., cpl.start + k - 1] = np.einsum(
                    "tfsnp,tfsn->tfp", lam[..., :-k, :], emitted[..., k:]
                ) + np.einsum("tfsnp,tfsn->tfp", lam[..., k:, :], emitted[..., :-k])
        if "feed" in self.terms:
            jac_c[..., self.blocks_of["feed"]] = (lam_in[:, :, 0] * blocks.feed0[None, :, :, 0, None]).transpose(
                0, 1, 3, 2
            )
        if "codes" in self.terms:
            d = fields.cell_sensitivity()  # (T, F, P, L, N)
            dn = d * np.exp(2j * np.pi * levels / K)[:, None, None]  # d y / d r[l, n, c_tln]
            onehot = levels[..., None] == np.arange(K)  # (T, L, N, K)
            per_atom = jac_c[..., self.blocks_of["atoms"]].reshape(T, F, P, L, N, K)  # a view: written in place
            np.multiply(dn[..., None], onehot[:, None, None], out=per_atom)
            per_code = dn.reshape(T, F * P, L * N) @ onehot.reshape(T, L * N, K).astype(complex)  # summed over atoms
            jac_c[..., self.blocks_of["levels"]] = per_code.reshape(T, F, P, K)[..., 1:]
        return self._geometry_jacobian(blocks, lam_in, lam_out, a_in, a_out, gain_jvp), jac_c

    def _geometry_jacobian(self, blocks, lam_in, lam_out, a_in, a_out, gain_jvp) -> np.ndarray:
        """(T, F, P, 3L): the geometry moves the feed vector, the gaps and the output matrix."""
        eye = np.eye(self.n_physical)
        d_in, d_gaps, d_out = zip(*(blocks.geometry_jvp(e) for e in eye))
        d_in = np.stack(d_in)[..., 0]  # (J, F, N)
        d_gaps = np.stack(d_gaps)  # (J, L-1, F, N, N)
        weight = blocks.model.w_in[..., 0] / np.where(blocks.feed0[..., 0] == 0, 1, blocks.feed0[..., 0])
        out = np.einsum("tfnp,jfn->tfpj", lam_in[:, :, 0], d_in * weight[None], optimize=True)
        for l in range(d_gaps.shape[1]):  # stages, not atoms: lam_in_(l+1)^T dW_l a_out_l + a_in_(l+1)^T dW_l lam_out_l
            moved = d_gaps[:, l] @ a_out[:, :, l].transpose(1, 2, 0)[None]  # (J, F, N, T)
            out += np.einsum("jfnt,tfnp->tfpj", moved, lam_in[:, :, l + 1], optimize=True)
            moved = d_gaps[:, l].swapaxes(-1, -2) @ a_in[:, :, l + 1].transpose(1, 2, 0)[None]
            out += np.einsum("jfnt,tfnp->tfpj", moved, lam_out[:, :, l], optimize=True)
        if gain_jvp is not None:
            out += np.stack([gain_jvp(d) for d in d_out], axis=-1)
        return out

    # ------------------------------------------------------------------ penalty, priors
    def ridge_weights(self) -> np.ndarray:
        """Per-parameter ridge weight (relative): ``ridge`` on the many per-atom terms (feed weights and
        each atom's own table), none on the few that the data pin down (geometry, faces, shared table)."""
        w = np.zeros(self.n_complex)
        for name in ("feed", "atoms"):
            w[self.blocks_of[name]] = self.ridge
        return np.concatenate([np.zeros(self.n_physical), w, w])

    def initial(self) -> np.ndarray:
        """The nominal network, with faces that reflect ``INITIAL_REFLECTION``: every path from the feed to
        the receivers meets the faces an even number of times, so the responses are even in the faces and
        have no slope at zero faces (a fit started there would never move them); this also leaves the
        faces' common sign unobservable, and the start picks the positive one."""
        x = np.zeros(self.n_params)
        if "face" in self.terms:
            x[
                self.n_physical + self.blocks_of["reflection"].start : self.n_physical
                + self.blocks_of["reflection"].stop
            ] = INITIAL_REFLECTION
        return x

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        return np.concatenate([self.physical.prior(bounds), np.full(2 * self.n_complex, 0.1)])

    def describe(self) -> dict:
        return {
            **super().describe(),
            "terms": list(self.terms),
            "band": self.band,
            "bits": self.bits,
            "ridge": self.ridge,
        }
