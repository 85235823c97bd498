"""The SIM as a multiport network, batched over configurations and frequencies, with the adjoint
fields that give every derivative ([4] SIM in the nonlinear regime, sec. II-III; docs/physics.md, sec. 7).

The network is the stage-isolated one of :mod:`simhw.physics.multiport.network`: the feed illuminates
stage 1's input face (``w_in``), stage l's output face radiates to stage l+1's input face (``w_gaps``)
and back (the transpose: reciprocity), stage L's output face radiates to the receivers (``w_out``),
and every face reflects and couples what its cells emit through its own block (``faces``, one
N x N block per stage, the same for the input and the output face). With the cells' transmissions
t (T, L, N) the internal waves b solve M b = S_ST x, M = I - S_SS Theta(t), and y = S_RS Theta b.

Derivatives. Both S_SS and Theta are symmetric, so M^T = Theta M Theta^-1 and an adjoint solve is a
forward solve: with q_p = M^-1 S_RS^T e_p (one more right-hand side per receive port, solved with
the feed in the same elimination) and lambda_p = Theta q_p, every derivative of y_p is a product of
fields (y is holomorphic in every complex quantity):

    dy_p / dt[l, n]      = q_p[out_ln] b[in_ln] + q_p[in_ln] b[out_ln]
    dy_p / dS_SS[i, j]   = lambda_p[i] a[j],   a = Theta b (the waves the cells emit)
    dy_p / dS_ST[i]      = lambda_p[i] x
    dy_p / dS_RS[p, j]   = a[j]

The elimination is block-tridiagonal over stages (cost linear in L, cubic in N), vectorised over
configurations and frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NetworkFields", "NetworkModel", "solve_stages"]


def solve_stages(face_t, lo, up, rhs, xp=np):
    """Solve the batched block-tridiagonal system M x = rhs.

    ``face_t`` (L, ..., n, n): stage l's block is [[I, -F_l], [-F_l, I]] over its [in, out] ports;
    ``lo`` (L-1, ..., n, n): the (l+1, l) block, nonzero in->in only; ``up`` (L-1, ..., n, n): the
    (l, l+1) block, nonzero out->out only; ``rhs`` (L, ..., 2n, k). Returns x shaped like ``rhs``.
    Each stage costs one n x n Schur complement and one solve with k + n right-hand sides. ``xp``: the
    arrays' namespace (numpy, or an array-API one: the differentiable twin solves with it).
    """
    concat = xp.concat if hasattr(xp, "concat") else xp.concatenate
    L = face_t.shape[0]
    n = face_t.shape[-1]
    k = rhs.shape[-1]
    eye = xp.eye(n, dtype=face_t.dtype)
    top, bot = [], []  # forward-eliminated right-hand sides
    c_top, c_bot = [], []  # coupling of stage l's unknowns to stage l+1's out-face unknowns
    for l in range(L):
        a_blk = -face_t[l, ...]
        r1 = rhs[l, ..., :n, :]
        if l > 0:
            a_blk = a_blk - lo[l - 1, ...] @ c_top[l - 1]
            r1 = r1 - lo[l - 1, ...] @ top[l - 1]
        b_blk = -face_t[l, ...]
        schur = eye - b_blk @ a_blk
        right = rhs[l, ..., n:, :] - b_blk @ r1
        if l < L - 1:
            sol = xp.linalg.solve(schur, concat([right, up[l, ...]], axis=-1))
            v = sol[..., :k]
            c_bot.append(sol[..., k:])
            c_top.append(-a_blk @ c_bot[l])
        else:
            v = xp.linalg.solve(schur, right)
        bot.append(v)
        top.append(r1 - a_blk @ v)
    for l in range(L - 2, -1, -1):
        top[l] = top[l] - c_top[l] @ bot[l + 1]
        bot[l] = bot[l] - c_bot[l] @ bot[l + 1]
    return xp.stack([concat([t, b], axis=-2) for t, b in zip(top, bot)])


@dataclass
class NetworkFields:
    """Waves of one batched solve, each (B, F, L, N, ...): ``b_in``/``b_out`` reach the cells' input
    and output ports, ``a_in``/``a_out`` leave them; ``q_in``/``q_out`` (..., k) are the adjoint
    solutions M^-1 c for the extra right-hand sides c placed on the last stage's output face."""

    t: np.ndarray  # (B, L, N)
    b_in: np.ndarray  # (B, F, L, N)
    b_out: np.ndarray
    q_in: np.ndarray | None = None  # (B, F, L, N, k)
    q_out: np.ndarray | None = None

    @property
    def a_in(self) -> np.ndarray:
        return self.t[:, None, :, :, None] * self.b_out

    @property
    def a_out(self) -> np.ndarray:
        return self.t[:, None, :, :, None] * self.b_in

    def lam(self) -> tuple[np.ndarray, np.ndarray]:
        """lambda = Theta q on the input and output ports: (B, F, L, N, k) each."""
        t = self.t[:, None, :, :, None]
        return t * self.q_out, t * self.q_in

    def cell_sensitivity(self) -> np.ndarray:
        """(B, F, k, L, N): d y_p / d t[l, n] for every adjoint right-hand side p."""
        d = self.q_out * self.b_in + self.q_in * self.b_out  # one feed input: b is (..., 1)
        return np.moveaxis(d, -1, 2)


class NetworkModel:
    """An end-to-end multiport SIM: feed (F, N, M), gaps (L-1, F, N, N), output (F, P, N) and one
    face block (L, N, N) (or per frequency (L, F, N, N)) per stage.

    It offers the interface trainers and objectives use on a :class:`~simhw.physics.model.SIMModel`:
    ``response(theta, amplitude)`` -> (B, F, P, M) or (F, P, M) and ``vjp(theta, g_h, amplitude)``
    -> (dL/dtheta, dL/damplitude), with the attributes ``n_layers``, ``n_atoms``, ``n_freqs``,
    ``n_inputs``, ``n_outputs`` and ``convention`` ("end-to-end"). With zero faces it equals the
    cascade W_out Phi_L W_L ... Phi_1 W_in.
    """

    convention = "end-to-end"

    def __init__(self, w_in: np.ndarray, w_gaps: np.ndarray, w_out: np.ndarray, faces: np.ndarray):
        self.w_in = np.asarray(w_in, complex)
        self.w_gaps = np.asarray(w_gaps, complex)
        self.w_out = np.asarray(w_out, complex)
        self.faces = np.asarray(faces, complex)
        self.n_freqs, self.n_atoms, self.n_inputs = self.w_in.shape
        self.n_layers = self.w_gaps.shape[0] + 1
        self.n_outputs = self.w_out.shape[1]
        if self.w_gaps.shape[1:] != (self.n_freqs, self.n_atoms, self.n_atoms):
            raise ValueError(f"w_gaps must be (L-1, F, N, N), got {self.w_gaps.shape}")
        if self.w_out.shape != (self.n_freqs, self.n_outputs, self.n_atoms):
            raise ValueError(f"w_out must be (F, P, N), got {self.w_out.shape}")
        if self.faces.shape not in (
            (self.n_layers, self.n_atoms, self.n_atoms),
            (self.n_layers, self.n_freqs, self.n_atoms, self.n_atoms),
        ):
            raise ValueError(f"faces must be (L, N, N) or (L, F, N, N), got {self.faces.shape}")
        if not np.allclose(self.faces, self.faces.swapaxes(-1, -2), rtol=1e-12, atol=1e-15):
            raise ValueError("faces must be symmetric: a passive reciprocal face couples i to j as j to i")

    @classmethod
    def from_cascade(cls, cascade, faces: np.ndarray) -> NetworkModel:
        return cls(cascade.w_in, cascade.w_layers, cascade.w_out, faces)

    # ------------------------------------------------------------------ solving
    def faces_per_frequency(self) -> np.ndarray:
        """(L, F, N, N): the faces at every frequency."""
        if self.faces.ndim == 4:
            return self.faces
        return np.broadcast_to(self.faces[:, None], (self.n_layers, self.n_freqs) + self.faces.shape[1:])

    def _check_theta(self, theta, amplitude) -> tuple[np.ndarray, bool]:
        theta = np.asarray(theta, float)
        single = theta.ndim == 2
        theta = theta[None] if single else theta
        if theta.shape[1:] != (self.n_layers, self.n_atoms):
            raise ValueError(
                f"phases must be (L, N) = ({self.n_layers}, {self.n_atoms}) or a batch of them, got {theta.shape[1:]}"
            )
        t = np.exp(1j * theta)
        if amplitude is not None:
            t = t * np.broadcast_to(amplitude, theta.shape)
        return t, single

    def solve(
        self,
        t: np.ndarray,
        sources: np.ndarray | None = None,
        inputs: np.ndarray | None = None,
        method: str = "auto",
        guess: NetworkFields | None = None,
        tol: float = 1e-10,
    ) -> NetworkFields:
        """Fields for transmissions ``t`` (B, L, N): the feed's ``inputs`` (F, N, M) (default: w_in, all
        inputs as right-hand sides) and, with ``sources`` (F, N, k) or per configuration (B, F, N, k),
        adjoint right-hand sides on the last stage's output face (S_RS^T e_p for receive port p).

        ``method``: "sweeps" (:meth:`_sweeps`: block Gauss-Seidel over the stages, every product one
        matrix product per frequency for all configurations at once; converges when the faces reflect
        and couple weakly), "direct" (:func:`solve_stages`: exact block elimination) or "auto" (sweeps,
        and the direct solve where they have not converged). ``guess``: fields of a nearby solve with the
        same right-hand-side layout, where the sweeps start (a fit's next trial point). ``tol``: the sweeps
        stop when a sweep changes the boundary waves by less than this, relative."""
        if method not in ("auto", "sweeps", "direct"):
            raise ValueError("method must be 'auto', 'sweeps' or 'direct'")
        N, B = self.n_atoms, t.shape[0]
        feed = self.w_in if inputs is None else inputs
        m = feed.shape[-1]
        src_in = np.broadcast_to(feed, (B,) + feed.shape)
        src_out = None if sources is None else np.broadcast_to(sources, (B,) + sources.shape[-3:])
        k = m + (0 if src_out is None else src_out.shape[-1])
        start = None
        if guess is not None and guess.b_in.shape == (B, self.n_freqs, self.n_layers, N, m):
            if src_out is None:
                start = np.concatenate([guess.b_in, guess.b_out], axis=-2)
            elif guess.q_in is not None and guess.q_in.shape[-1] == k - m:
                start = np.concatenate(
                    [
                        np.concatenate([guess.b_in, guess.q_in], axis=-1),
                        np.concatenate([guess.b_out, guess.q_out], axis=-1),
                    ],
                    axis=-2,
                )
        b = self._sweeps(t, src_in, src_out, k, start, tol) if method != "direct" else None
        if b is None:
            if method == "sweeps":
                raise ArithmeticError("the stage sweeps did not converge (strong reflections): use method='direct'")
            b = self._direct(t, src_in, src_out, k)
        fields = NetworkFields(t, b[..., :N, :m], b[..., N:, :m])
        if src_out is not None:
            fields.q_in, fields.q_out = b[..., :N, m:], b[..., N:, m:]
        return fields

    def _direct(self, t, src_in, src_out, k) -> np.ndarray:
        """(B, F, L, 2N, k) incident waves [b_in, b_out] by block elimination."""
        L, N, m = self.n_layers, self.n_atoms, src_in.shape[-1]
        B, F = t.shape[0], self.n_freqs
        lt = np.moveaxis(t, 1, 0)[:, :, None, None, :]  # (L, B, 1, 1, N): column scaling by t_l
        face_t = self.faces_per_frequency()[:, None] * lt  # F_l diag(t_l)
        lo = -self.w_gaps[:, None] * lt[:-1]  # in_(l+1) <- W_l a_out_l = W_l t_l b_in_l
        up = -self.w_gaps.swapaxes(-1, -2)[:, None] * lt[1:]  # out_l <- W_l^T t_(l+1) b_out_(l+1)
        rhs = np.zeros((L, B, F, 2 * N, k), complex)
        rhs[0, :, :, :N, :m] = src_in
        if src_out is not None:
            rhs[L - 1, :, :, N:, m:] = src_out
        return np.moveaxis(solve_stages(face_t, lo, up, rhs), 0, 2)

    def _sweeps(self, t, src_in, src_out, k, start=None, tol: float = 1e-10, max_sweeps: int = 60) -> np.ndarray | None:
        """(B, F, L, 2N, k) incident waves by symmetric block Gauss-Seidel sweeps over the stages, or None
        when they have not converged (relative change above ``tol`` after ``max_sweeps``).

        Waves live as (F, N, B k) columns, so every product with a gap or a face is one matrix product
        per frequency for all configurations and right-hand sides together. A forward sweep carries the
        waves through the stack with the backward waves of the last sweep, a backward sweep brings the
        reflections back; each pair adds one more round trip between the faces."""
        L, N, m = self.n_layers, self.n_atoms, src_in.shape[-1]
        B, F = t.shape[0], self.n_freqs
        cols = B * k

        def columns(a):  # (B, F, N, j) -> (F, N, B, j)
            return np.ascontiguousarray(a.transpose(1, 2, 0, 3))

        s_in = np.zeros((F, N, B, k), complex)
        s_in[..., :m] = columns(src_in)
        s_in = s_in.reshape(F, N, cols)
        s_out = np.zeros((F, N, B, k), complex)
        if src_out is not None:
            s_out[..., m:] = columns(src_out)
        s_out = s_out.reshape(F, N, cols)
        tt = np.repeat(np.moveaxis(t, 1, 0)[:, None, :, :, None], k, axis=-1)  # (L, 1, B, N, k)
        tt = tt.transpose(0, 1, 3, 2, 4).reshape(L, 1, N, cols)
        faces = self.faces_per_frequency()
        gaps, gaps_t = self.w_gaps, self.w_gaps.swapaxes(-1, -2)
        if start is None:
            b_in = np.zeros((L, F, N, cols), complex)
            b_out = np.zeros_like(b_in)
        else:  # (B, F, L, 2N, k) -> (L, F, 2N, B k)
            b = np.ascontiguousarray(start.transpose(2, 1, 3, 0, 4)).reshape(L, F, 2 * N, cols)
            b_in, b_out = b[:, :, :N].copy(), b[:, :, N:].copy()
        a_in = tt * b_out
        a_out = tt * b_in

        def update_in(l):
            v = faces[l] @ a_in[l]
            v += s_in if l == 0 else gaps[l - 1] @ a_out[l - 1]
            b_in[l] = v
            a_out[l] = tt[l] * v

        def update_out(l):
            v = faces[l] @ a_out[l]
            v += s_out if l == L - 1 else gaps_t[l] @ a_in[l + 1]
            b_out[l] = v
            a_in[l] = tt[l] * v

        scale = max(float(np.max(np.abs(s_in))), float(np.max(np.abs(s_out))), 1e-300)
        converged = False
        last = np.inf
        for sweep in range(max_sweeps):
            before = b_in[-1].copy(), b_out[0].copy()
            for l in range(L):
                update_in(l)
            for l in range(L - 1, -1, -1):
                update_out(l)
            change = max(float(np.max(np.abs(b_in[-1] - before[0]))), float(np.max(np.abs(b_out[0] - before[1]))))
            if change <= tol * max(float(np.max(np.abs(b_in[-1]))), float(np.max(np.abs(b_out[0]))), 1e-300 * scale):
                converged = True
                break
            if sweep >= 3 and change > 0.5 * last:  # too slow to be worth it (or diverging): solve directly
                break
            last = change
        self.last_sweeps = sweep + 1
        if not converged:
            return None
        b = np.concatenate([b_in, b_out], axis=2).reshape(L, F, 2 * N, B, k)
        return b.transpose(3, 1, 0, 2, 4)

    # ------------------------------------------------------------------ the SIMModel interface
    def response(self, theta, amplitude=None, phase_noise=None, layers=None) -> np.ndarray:
        """End-to-end responses (B, F, P, M) (or (F, P, M) for one configuration)."""
        t, single = self._check_theta(theta, amplitude)
        fields = self.solve(t)
        a_out = t[:, None, -1, :, None] * fields.b_in[:, :, -1]  # (B, F, N, M)
        h = self.w_out[None] @ a_out
        return h[0] if single else h

    def vjp(self, theta, g_h, amplitude=None, phase_noise=None) -> tuple[np.ndarray, np.ndarray]:
        """Pull a response cotangent g_h = dL/dRe(h) + 1j dL/dIm(h) back to (dL/dtheta, dL/damplitude)."""
        t, single = self._check_theta(theta, amplitude)
        g = np.asarray(g_h, complex)
        g = g[None] if single else g  # (B, F, P, M)
        # sum conj(g) dy = q^T dTheta b, q = M^-1 S_RS^T conj(g): one adjoint right-hand side per input
        fields = self.solve(t, sources=np.einsum("fpn,bfpm->bfnm", self.w_out, np.conj(g)))
        d = (fields.q_out * fields.b_in + fields.q_in * fields.b_out).sum(axis=(1, -1))  # (B, L, N)
        grad_theta = np.real(d * 1j * t)
        grad_amp = np.real(d * np.exp(1j * np.angle(t)))
        return (grad_theta[0], grad_amp[0]) if single else (grad_theta, grad_amp)
