"""Multiport SIM with linear or nonlinear (Rapp limiter) cells: forward evaluation and adjoint
gradients ([4] SIM in the nonlinear regime, sec. II-III; docs/physics.md, sec. 7).

Cells (matched two-ports, one per atom and stage): the wave b reaching a cell on one face leaves
on the other face as a = t g(|b|) b / |b|, t = exp(1j theta). Linear cells: g(r) = gain r.
Rapp limiter ([4] SIM in the nonlinear regime, eq. (36)): g(r) = G r / (1 + (G r / A_sat)^(2p))^(1/(2p)).

Linear forward: b_S = (I - S_SS Theta)^-1 S_ST x, y = S_RT x + S_RS Theta b_S (block solve).
Nonlinear forward: b_S = S_ST x + S_SS f(b_S), solved by relaxed fixed-point iteration
b <- (1 - mu) b + mu (S_ST x + S_SS f(b)) with a convergence report; :class:`ConvergenceError`
when the residual does not fall below the tolerance.

Gradients of a real loss of y with respect to theta by the adjoint method. Linear: one
conjugate-transposed block solve. Nonlinear: the cell map is not complex-differentiable (it depends
on |b|), so its linearisation is real-linear, df = A db + B conj(db); the adjoint system
lambda = L*(S_RS^H g) + L*(S_SS^H lambda), with L*(w) = conj(A) w + B conj(w), is solved by the same
relaxed iteration as the forward problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simhw.physics.multiport.network import StageNetwork, from_cascade, solve_block, solve_dense
from simhw.physics.propagation import Cascade

__all__ = ["RappCell", "MultiportSIM", "ConvergenceError", "FixedPointReport"]


class ConvergenceError(RuntimeError):
    """The fixed-point iteration did not converge; carries the :class:`FixedPointReport`."""

    def __init__(self, message: str, report: FixedPointReport):
        super().__init__(message)
        self.report = report


@dataclass
class FixedPointReport:
    iterations: int
    residual: float
    converged: bool
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class RappCell:
    """Rapp soft limiter on the transmitted amplitude; ``a_sat = inf`` gives a linear cell."""

    gain: float = 1.0
    a_sat: float = np.inf
    p: float = 2.0

    @property
    def linear(self) -> bool:
        return not np.isfinite(self.a_sat)

    def h(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """h(r) = g(r)/r and dh/dr."""
        if self.linear:
            return np.full_like(r, self.gain), np.zeros_like(r)
        u = (self.gain * r / self.a_sat) ** (2 * self.p)
        h = self.gain * (1 + u) ** (-1 / (2 * self.p))
        dh = np.where(r > 0, -h * u / ((1 + u) * np.maximum(r, 1e-300)), 0.0)
        return h, dh

    def amplitude(self, r):
        r = np.asarray(r, float)
        return self.h(r)[0] * r


class MultiportSIM:
    """A SIM of ``n_layers`` stages of ``n_atoms`` cells between a Tx and an Rx array.

    Build from a :class:`~simhw.physics.propagation.Cascade` (the same geometry the cascade model uses):
    ``reflection`` and ``coupling`` set the faces' reflection and intra-face coupling (0 and 0
    reproduce the cascade). ``solver``: "block" (default) or "dense".
    """

    def __init__(
        self,
        cascade: Cascade,
        reflection: float = 0.0,
        coupling: float = 0.0,
        cell: RappCell | None = None,
        frequency_index: int = 0,
        solver: str = "block",
        relax: float = 1.0,
        tol: float = 1e-10,
        max_iter: int = 500,
    ):
        if solver not in ("block", "dense"):
            raise ValueError("solver must be 'block' or 'dense'")
        if not 0 < relax <= 1:
            raise ValueError("relax must be in (0, 1]")
        self.net: StageNetwork = from_cascade(cascade, frequency_index, reflection, coupling)
        self.cell = cell or RappCell()
        self.solver = solve_block if solver == "block" else solve_dense
        self.relax, self.tol, self.max_iter = relax, tol, max_iter
        self.n_layers, self.n_atoms = self.net.n_stages, self.net.n_atoms
        self.n_inputs, self.n_outputs = self.net.w_in.shape[1], self.net.w_out.shape[0]
        self.last_report: FixedPointReport | None = None

    # ------------------------------------------------------------------ cells
    def _t(self, theta) -> np.ndarray:
        theta = np.asarray(theta, float)
        if theta.shape != (self.n_layers, self.n_atoms):
            raise ValueError(f"phases must have shape ({self.n_layers}, {self.n_atoms}), got {theta.shape}")
        return np.exp(1j * theta)

    def _swap(self, v: np.ndarray) -> np.ndarray:
        """Route every port's wave to its cell partner (in_l <-> out_l)."""
        n, L = self.n_atoms, self.n_layers
        return v.reshape(L, 2, n, -1)[:, ::-1].reshape(2 * n * L, -1)

    def _cells(self, b: np.ndarray, t: np.ndarray):
        """a = f(b), and the pieces of its real-linear derivative (per port, after routing)."""
        bs = self._swap(b)  # the wave each port's cell received on the other face
        r = np.abs(bs)
        h, dh = self.cell.h(r)
        tt = np.repeat(t[:, None, :], 2, axis=1).reshape(-1, 1)
        a = tt * h * bs
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = np.where(r > 0, dh / (2 * np.maximum(r, 1e-300)), 0.0)
        big_a = tt * (h + coef * r * r)  # da = A dbs + B conj(dbs)
        big_b = tt * coef * bs * bs
        return a, big_a, big_b

    # ------------------------------------------------------------------ forward
    def transfer(self, theta) -> np.ndarray:
        """The linear transfer H (R, T) = S_RS Theta (I - S_SS Theta)^-1 S_ST (cells with gain)."""
        if not self.cell.linear:
            raise ValueError("transfer() is the linear closed form; use outputs() with nonlinear cells")
        t = self._t(theta) * self.cell.gain
        b = self.solver(self.net, t, self.net.s_st())
        return self.net.w_out @ (t[-1][:, None] * b[-2 * self.n_atoms : -self.n_atoms])

    def _fixed_point(self, x: np.ndarray, t: np.ndarray, b0=None):
        src = self.net.s_st() @ x
        b = src.copy() if b0 is None else b0
        hist = []
        for it in range(1, self.max_iter + 1):
            a, _, _ = self._cells(b, t)
            nb = (1 - self.relax) * b + self.relax * (src + self.net.apply_s_ss(a))
            res = float(np.linalg.norm(nb - b) / max(np.linalg.norm(nb), 1e-300))
            hist.append(res)
            b = nb
            if res <= self.tol:
                return b, FixedPointReport(it, res, True, hist)
        report = FixedPointReport(self.max_iter, hist[-1], False, hist)
        raise ConvergenceError(
            f"fixed-point iteration did not converge in {self.max_iter} iterations (residual "
            f"{hist[-1]:.2e} > {self.tol:.0e}); lower 'relax' or the drive level",
            report,
        )

    def internal_waves(self, theta, x) -> np.ndarray:
        t = self._t(theta)
        x = np.asarray(x, complex).reshape(self.n_inputs, -1)
        if self.cell.linear:
            return self.solver(self.net, t * self.cell.gain, self.net.s_st() @ x)
        b, self.last_report = self._fixed_point(x, t)
        return b

    def outputs(self, theta, x) -> np.ndarray:
        """Outputs y (R, K) for excitations x (T, K) (S_RT = 0: no direct Tx-Rx path)."""
        t = self._t(theta)
        b = self.internal_waves(theta, x)
        a, _, _ = self._cells(b, t)
        return self.net.w_out @ a[-self.n_atoms :]

    # ------------------------------------------------------------------ adjoint
    def vjp(self, theta, x, g_y) -> np.ndarray:
        """d loss / d theta (L, N) given g_y = dL/dRe(y) + 1j dL/dIm(y) for outputs of excitations x."""
        t = self._t(theta)
        x = np.asarray(x, complex).reshape(self.n_inputs, -1)
        b = self.internal_waves(theta, x)
        a, big_a, big_b = self._cells(b, t)
        n, L = self.n_atoms, self.n_layers
        r = np.zeros_like(b)
        r[-n:] = self.net.w_out.conj().T @ g_y  # S_RS^H g_y
        if self.cell.linear:
            # M^H lam = Theta^H S_RS^H g, w = S_RS^H g + S_SS^H lam; Theta^H acts through the cell routing
            lam = self.solver(
                self.net,
                t * self.cell.gain,
                self._swap(np.conj(t * self.cell.gain).repeat(2, 0).reshape(-1, 1) * r),
                adjoint=True,
            )
            w = r + self.net.apply_s_ss_h(lam)
        else:

            def l_star(v):  # adjoint of the real-linear cell derivative, routed back to the input ports
                return self._swap(np.conj(big_a) * v + big_b * np.conj(v))

            rhs = l_star(r)
            lam = rhs.copy()
            for _ in range(self.max_iter):
                nl = (1 - self.relax) * lam + self.relax * (rhs + l_star(self.net.apply_s_ss_h(lam)))
                done = np.linalg.norm(nl - lam) <= self.tol * max(np.linalg.norm(nl), 1e-300)
                lam = nl
                if done:
                    break
            w = r + self.net.apply_s_ss_h(lam)
        # d a_p / d theta = 1j a_p for both ports of a cell
        contrib = np.real(np.conj(w) * 1j * a).sum(axis=1).reshape(L, 2, n)
        return contrib.sum(axis=1)
