"""The SIM as a multiport network ([4] SIM in the nonlinear regime, sec. II; docs/physics.md, sec. 7).

Ports: T (the transmit array), S (the SIM's internal ports: every stage is a diagonal T-RIS with
an input face and an output face of N ports each, ordered stage by stage [in_1, out_1, in_2,
out_2, ...]) and R (the receive array). Tx and Rx ports are matched. The network's S-matrix,
built from the SIM geometry, is stage-isolated: waves travel from the Tx array to stage 1's input
face, from stage l's output face to stage l+1's input face (and back, reciprocally: the transpose),
and from stage L's output face to the Rx array; every internal port reflects ``reflection`` of what
reaches it and couples ``coupling`` alpha^|i-j| (|i-j| <= band) into the other ports of its face.
S_SS is therefore block-tridiagonal over stages, with blocks of 2N x 2N.

Cells: cell n of stage l joins in-port and out-port n of that stage; a matched phase shifter
passes the wave through both ways, a_out = t b_in and a_in = t b_out with t = exp(1j theta), so
with a_S = Theta b_S the linear end-to-end transfer is

    H = S_RT + S_RS Theta (I - S_SS Theta)^-1 S_ST.

:func:`solve_block` solves (I - S_SS Theta) x = r by block elimination over stages (cost linear in
L, cubic in N); :func:`solve_dense` is the O((2NL)^3) reference. With no reflection or coupling
only forward waves survive and H equals the cascade W_out Phi_L ... W_2 Phi_1 W_in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhw.physics.impairments import coupling_matrix
from simhw.physics.propagation import Cascade

__all__ = ["StageNetwork", "from_cascade", "solve_block", "solve_dense", "theta_blocks"]


@dataclass
class StageNetwork:
    """The stage-isolated S-matrix at one frequency, kept as its blocks.

    ``w_in`` (N, T): Tx -> in_1; ``w_gaps`` (L-1, N, N): out_l -> in_(l+1); ``w_out`` (R, N):
    out_L -> Rx; ``face`` (N, N): the reflection/coupling block of every face (zero when ideal).
    Reciprocity gives the backward blocks as transposes.
    """

    w_in: np.ndarray
    w_gaps: np.ndarray
    w_out: np.ndarray
    face: np.ndarray

    @property
    def n_stages(self) -> int:
        return self.w_gaps.shape[0] + 1

    @property
    def n_atoms(self) -> int:
        return self.w_in.shape[0]

    @property
    def n_ports(self) -> int:
        return 2 * self.n_atoms * self.n_stages

    def s_ss(self) -> np.ndarray:
        """The dense S_SS (2NL x 2NL), for reference and tests."""
        n, L = self.n_atoms, self.n_stages
        s = np.zeros((2 * n * L, 2 * n * L), complex)
        for l in range(L):
            i0, o0 = 2 * n * l, 2 * n * l + n
            s[i0 : i0 + n, i0 : i0 + n] = self.face
            s[o0 : o0 + n, o0 : o0 + n] = self.face
            if l + 1 < L:
                i1 = 2 * n * (l + 1)
                s[i1 : i1 + n, o0 : o0 + n] = self.w_gaps[l]
                s[o0 : o0 + n, i1 : i1 + n] = self.w_gaps[l].T
        return s

    def s_st(self) -> np.ndarray:
        out = np.zeros((self.n_ports, self.w_in.shape[1]), complex)
        out[: self.n_atoms] = self.w_in
        return out

    def s_rs(self) -> np.ndarray:
        out = np.zeros((self.w_out.shape[0], self.n_ports), complex)
        out[:, -self.n_atoms :] = self.w_out
        return out

    def apply_s_ss(self, v: np.ndarray) -> np.ndarray:
        """S_SS @ v for v (2NL, K), using the block-banded structure (O(L N^2 K))."""
        n, L = self.n_atoms, self.n_stages
        v = v.reshape(L, 2, n, -1)
        out = np.einsum("ij,lsjk->lsik", self.face, v)
        if L > 1:
            out[1:, 0] += np.einsum("lij,ljk->lik", self.w_gaps, v[:-1, 1])  # out_l -> in_(l+1)
            out[:-1, 1] += np.einsum("lji,ljk->lik", self.w_gaps, v[1:, 0])  # in_(l+1) -> out_l
        return out.reshape(2 * n * L, -1)

    def apply_s_ss_h(self, v: np.ndarray) -> np.ndarray:
        """S_SS^H @ v (S_SS is symmetric, so this is conj(S_SS) @ v)."""
        return np.conj(self.apply_s_ss(np.conj(v)))


def from_cascade(
    cascade: Cascade, frequency_index: int = 0, reflection: float = 0.0, coupling: float = 0.0, band: int = 5
) -> StageNetwork:
    """The stage network of a cascade's geometry at one frequency, with face reflection/coupling."""
    f = frequency_index
    n = cascade.n_atoms
    face = np.zeros((n, n), complex)
    if coupling:
        face += coupling_matrix(n, coupling, band) - np.eye(n)
    face += reflection * np.eye(n)
    return StageNetwork(cascade.w_in[f], cascade.w_layers[:, f], cascade.w_out[f], face)


def theta_blocks(t: np.ndarray) -> np.ndarray:
    """Per stage the 2N x 2N termination block [[0, diag t], [diag t, 0]] for cell responses t (L, N)."""
    L, n = t.shape
    out = np.zeros((L, 2 * n, 2 * n), complex)
    idx = np.arange(n)
    out[:, idx, n + idx] = t
    out[:, n + idx, idx] = t
    return out


def _core(f: np.ndarray, lo: np.ndarray, up: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the block-tridiagonal system whose stage block is [[I, -F_l], [-F_l, I]] (ports
    [in, out]), whose sub-diagonal block (stage l+1, l) is nonzero only in->in (``lo[l]``) and
    whose super-diagonal block (l, l+1) only out->out (``up[l]``): block elimination where each
    stage needs one N x N Schur complement S = I - B A (A, B the stage's off-diagonal blocks after
    elimination) and one solve with N + K right-hand sides: O(L N^3 + L N^2 K)."""
    L, n = f.shape[0], f.shape[1]
    k = rhs.shape[2]
    d_top = np.empty((L, n, k), complex)
    d_bot = np.empty((L, n, k), complex)
    c_top = np.empty((max(L - 1, 0), n, n), complex)
    c_bot = np.empty_like(c_top)
    eye = np.eye(n)
    for l in range(L):
        a_blk = -f[l]
        r1 = rhs[l, :n]
        if l > 0:
            a_blk = a_blk - lo[l - 1] @ c_top[l - 1]
            r1 = r1 - lo[l - 1] @ d_top[l - 1]
        b_blk = -f[l]
        schur = eye - b_blk @ a_blk
        right = rhs[l, n:] - b_blk @ r1
        if l < L - 1:
            sol = np.linalg.solve(schur, np.concatenate([right, up[l]], axis=1))
            v, c_bot[l] = sol[:, :k], sol[:, k:]
            c_top[l] = -a_blk @ c_bot[l]
        else:
            v = np.linalg.solve(schur, right)
        d_bot[l] = v
        d_top[l] = r1 - a_blk @ v
    x_top, x_bot = d_top, d_bot
    for l in range(L - 2, -1, -1):
        x_top[l] -= c_top[l] @ x_bot[l + 1]
        x_bot[l] -= c_bot[l] @ x_bot[l + 1]
    return np.stack([x_top, x_bot], axis=1)


def solve_block(net: StageNetwork, t: np.ndarray, rhs: np.ndarray, adjoint: bool = False) -> np.ndarray:
    """Solve (I - S_SS Theta) x = rhs (or its conjugate transpose with ``adjoint``) by block
    elimination over stages: cost linear in L, cubic in N (see :func:`_core`)."""
    n, L = net.n_atoms, net.n_stages
    f = net.face[None, :, :] * t[:, None, :]  # face diag(t_l): both off-diagonal blocks of a stage
    lo = -net.w_gaps * t[:-1, None, :]  # in_(l+1) <- a_out_l = t_l b_in_l
    up = -net.w_gaps.transpose(0, 2, 1) * t[1:, None, :]  # out_l <- a_in_(l+1) = t_(l+1) b_out_(l+1)
    r = rhs.reshape(L, 2, n, -1).astype(complex)
    if not adjoint:
        return _core(f, lo, up, r.reshape(L, 2 * n, -1)).reshape(2 * n * L, -1)
    # M^H with each stage's faces swapped has the same shape: F -> F^H, lower <- upper^H, upper <- lower^H
    fh = np.conj(f.transpose(0, 2, 1))
    x = _core(fh, np.conj(up.transpose(0, 2, 1)), np.conj(lo.transpose(0, 2, 1)), r[:, ::-1].reshape(L, 2 * n, -1))
    return x[:, ::-1].reshape(2 * n * L, -1)


def solve_dense(net: StageNetwork, t: np.ndarray, rhs: np.ndarray, adjoint: bool = False) -> np.ndarray:
    """The same solve on the dense 2NL x 2NL system (reference)."""
    n, L = net.n_atoms, net.n_stages
    # S_SS Theta without a dense product: column j of it is t_j times S_SS's column of j's cell partner
    partner = np.arange(2 * n * L).reshape(L, 2, n)[:, ::-1].ravel()
    tt = np.repeat(t[:, None, :], 2, axis=1).ravel()
    m = np.eye(2 * n * L) - net.s_ss()[:, partner] * tt[None, :]
    if adjoint:
        m = m.conj().T
    return np.linalg.solve(m, rhs.reshape(2 * n * L, -1))
