"""Space-only block of a DAL-aided SIM and its synthesis by projected gradient descent ([2] Randomized space-time SIM,
sec. III and V, Step 1; docs/physics.md, sec. 4.3).

The space-only block maps the M transmitting atoms of the input dimensional adaptation layer
(DAL, aligned with the feed UPA; its other atoms absorb) through intermediate layers of N atoms to
the Q transmitting atoms of the terminal DAL:

    G = D_L W_L D_(L-1) ... D_2 W_2,   D_l = diag(a_l exp(1j theta_l)),

with Rayleigh-Sommerfeld matrices W_l between consecutive layers' transmitting atoms. Layers are
amplitude-controlled ("ac": a in [a_min, a_max], phase fixed at 0) or phase-controlled ("pc":
a = 1, phase free), in any order; the terminal DAL is phase-controlled. The baseline SIM is N = M
(no absorbing atoms). :func:`synthesize` minimises ||G - U||_F^2 toward a target U (Haar by
default, :func:`haar_target`) layer by layer with projected gradient steps sized by backtracking
(Armijo) line search; amplitudes are projected onto their box and the radiated power
||G||_F^2 is kept at most ``power_limit`` (default ||U||_F^2) by scaling the first AC layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from simhw.physics.geometry import SPEED_OF_LIGHT
from simhw.physics.propagation import rayleigh_sommerfeld

__all__ = ["SOnlyBlock", "SynthesisResult", "haar_target", "dal_block", "synthesize", "grid"]


def grid(side: int, pitch: float, z: float) -> np.ndarray:
    """(side^2, 3) atom centres of a square layer at height z, centred on the axis."""
    c = (np.arange(side) - (side - 1) / 2) * pitch
    yy, xx = np.meshgrid(c, c, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel(), np.full(side * side, z)], axis=-1)


def haar_target(q: int, m: int, seed=None) -> np.ndarray:
    """(q, m) Haar-distributed matrix with orthonormal columns: U = Z (Z^H Z)^(-1/2), Z ~ CN(0, 1)."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((q, m)) + 1j * rng.standard_normal((q, m))) / np.sqrt(2)
    w, v = np.linalg.eigh(z.conj().T @ z)
    return z @ (v / np.sqrt(w)) @ v.conj().T


@dataclass
class SOnlyBlock:
    """Propagation matrices and layer kinds of a space-only block (see the module docstring)."""

    matrices: list  # W_2 .. W_L, each (n_l, n_(l-1)) complex
    kinds: list  # "ac" or "pc" for layers 2 .. L
    amp_range: tuple = (10 ** (-15 / 20), 10 ** (20 / 20))  # 35 dB span

    def __post_init__(self):
        if len(self.matrices) != len(self.kinds):
            raise ValueError("one kind per layer after the input DAL")
        for k in self.kinds:
            if k not in ("ac", "pc"):
                raise ValueError(f"layer kind must be 'ac' or 'pc', got {k!r}")
        for a, b in zip(self.matrices, self.matrices[1:]):
            if b.shape[1] != a.shape[0]:
                raise ValueError("consecutive propagation matrices do not chain")
        lo, hi = self.amp_range
        if not 0 < lo < hi:
            raise ValueError("amp_range must be 0 < a_min < a_max")

    @property
    def m(self) -> int:
        return self.matrices[0].shape[1]

    @property
    def q(self) -> int:
        return self.matrices[-1].shape[0]

    def initial(self, seed=None) -> list:
        """Per layer a complex vector d_l: random phases on PC layers, mid-range amplitudes on AC ones."""
        rng = np.random.default_rng(seed)
        lo, hi = self.amp_range
        out = []
        for w, kind in zip(self.matrices, self.kinds):
            n = w.shape[0]
            out.append(
                np.exp(1j * rng.uniform(0, 2 * np.pi, n)) if kind == "pc" else np.full(n, np.sqrt(lo * hi), complex)
            )
        return out

    def response(self, d: list) -> np.ndarray:
        g = d[0][:, None] * self.matrices[0]
        for w, dl in zip(self.matrices[1:], d[1:]):
            g = dl[:, None] * (w @ g)
        return g

    def value_and_grads(self, d: list, target: np.ndarray) -> tuple[float, list]:
        """||G - U||^2 and, per layer, the gradient with respect to that layer's free parameter
        (theta for PC, amplitude for AC)."""
        lay = len(d)
        right = []  # right[l] = W_l D_(l-1) ... D_2 W_2 (input of layer l), (n_l, M)
        g = self.matrices[0]
        right.append(g)
        for l in range(1, lay):
            g = self.matrices[l] @ (d[l - 1][:, None] * g)
            right.append(g)
        resp = d[-1][:, None] * right[-1]
        diff = resp - target
        value = float(np.sum(np.abs(diff) ** 2))
        back = 2 * diff  # cotangent of the output of layer l, moving backwards
        grads = [None] * lay
        for l in range(lay - 1, -1, -1):
            g_d = np.sum(back * np.conj(right[l]), axis=1)  # cotangent of d_l
            if self.kinds[l] == "pc":
                grads[l] = np.real(np.conj(g_d) * 1j * d[l])
            else:
                grads[l] = np.real(np.conj(g_d) * d[l] / np.maximum(np.abs(d[l]), 1e-300))
            if l > 0:
                back = self.matrices[l].conj().T @ (np.conj(d[l])[:, None] * back)
        return value, grads


def dal_block(
    m_side: int,
    n_side: int,
    n_pc: int,
    n_ac: int = 2,
    q_side: int | None = None,
    frequency: float = 28e9,
    spacing: float | None = None,
    ac_first: bool = True,
    amp_range=(10 ** (-15 / 20), 10 ** (20 / 20)),
) -> SOnlyBlock:
    """A DAL-aided space-only block: M = m_side^2 input-DAL atoms (aligned with a lambda/2 UPA),
    ``n_ac`` AC and ``n_pc`` PC intermediate layers of N = n_side^2 atoms (AC first by default, the
    fastest-converging order), and a terminal DAL with Q = q_side^2 (default M) transmitting atoms;
    n_side = m_side is the baseline SIM. Layers ``spacing`` apart (default lambda/2), pitch lambda/2."""
    if n_side < m_side:
        raise ValueError("intermediate layers cannot have fewer atoms than the input DAL transmits")
    q_side = m_side if q_side is None else q_side
    lam = SPEED_OF_LIGHT / frequency
    pitch, d = lam / 2, (lam / 2 if spacing is None else spacing)
    kinds = (["ac"] * n_ac + ["pc"] * n_pc) if ac_first else (["pc"] * n_pc + ["ac"] * n_ac)
    layers = [grid(m_side, pitch, 0.0)] + [grid(n_side, pitch, d * (i + 1)) for i in range(len(kinds))]
    layers.append(grid(q_side, pitch, d * (len(kinds) + 1)))
    mats = [rayleigh_sommerfeld(a, b, np.array([lam]), pitch * pitch)[0] for a, b in zip(layers, layers[1:])]
    return SOnlyBlock(mats, kinds + ["pc"], amp_range)


@dataclass
class SynthesisResult:
    d: list
    error: float  # ||G - U||_F^2
    history: list = field(default_factory=list)
    power_gain: float = 0.0  # ||G||_F^2 / ||U||_F^2
    iterations: int = 0
    seconds: float = 0.0


def _project(block: SOnlyBlock, d: list, power_limit: float) -> list:
    lo, hi = block.amp_range
    out = []
    for dl, kind in zip(d, block.kinds):
        if kind == "pc":
            out.append(np.exp(1j * np.angle(dl)))
        else:
            out.append(np.clip(np.abs(dl), lo, hi).astype(complex))
    if power_limit is not None and "ac" in block.kinds:
        p = float(np.sum(np.abs(block.response(out)) ** 2))
        if p > power_limit:
            i = block.kinds.index("ac")
            out[i] = np.clip(np.abs(out[i]) * np.sqrt(power_limit / p), lo, hi).astype(complex)
    return out


def _apply(d_l: np.ndarray, kind: str, step: float, grad: np.ndarray) -> np.ndarray:
    if kind == "pc":
        return d_l * np.exp(-1j * step * grad)
    return (np.abs(d_l) - step * grad).astype(complex)


def synthesize(
    block: SOnlyBlock,
    target: np.ndarray,
    iterations: int = 300,
    tol: float = 1e-9,
    seed=0,
    power_limit: float | None = None,
    progress=None,
) -> SynthesisResult:
    """Projected gradient descent, layer by layer, with backtracking step sizes (one per layer)."""
    t0 = time.perf_counter()
    if target.shape != (block.q, block.m):
        raise ValueError(f"target must be {block.q} x {block.m}")
    limit = float(np.sum(np.abs(target) ** 2)) if power_limit is None else power_limit
    d = _project(block, block.initial(seed), limit)
    value, _ = block.value_and_grads(d, target)
    steps = [1.0] * len(d)
    history = [value]
    it = 0
    for it in range(1, iterations + 1):
        start = value
        for l, kind in enumerate(block.kinds):
            _, grads = block.value_and_grads(d, target)
            g = grads[l]
            gg = float(np.sum(g * g))
            if gg == 0:
                continue
            step = steps[l] * 2
            for _ in range(40):  # Armijo backtracking
                trial = list(d)
                trial[l] = _apply(d[l], kind, step, g)
                trial = _project(block, trial, limit)
                v, _ = block.value_and_grads(trial, target)
                if v <= value - 1e-4 * step * gg:
                    d, value, steps[l] = trial, v, step
                    break
                step /= 2
        history.append(value)
        if progress is not None:
            progress({"kind": "iteration", "iteration": it, "error": value})
        if abs(start - value) <= tol * max(start, 1e-300):
            break
    resp = block.response(d)
    return SynthesisResult(
        d, value, history, float(np.sum(np.abs(resp) ** 2) / np.sum(np.abs(target) ** 2)), it, time.perf_counter() - t0
    )
