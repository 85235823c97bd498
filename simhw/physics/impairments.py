"""Meta-atom and control impairments that belong to the SIM model (docs/physics.md, sec. 3).

Each knob is off by default. The model applies them in this order to the commanded phases theta
of one layer:

1. quantization to B bits: theta_q = round(theta / (2 pi / 2^B)) * 2 pi / 2^B ([1] Learnable SIM sec. IV-B);
2. stuck elements: atoms flagged in ``stuck_mask`` keep ``stuck_phase`` whatever is commanded;
3. von Mises phase noise with spread sigma (concentration kappa = 1 / sigma^2), mean 0;
4. phase-dependent amplitude a(theta) (the phase shift model of [7] Practical phase shift
   model): a(theta) = (1 - a_min) * ((sin(theta - phi) + 1) / 2)^kappa + a_min;
5. inter-element coupling: the layer's diagonal response D is followed by a banded symmetric
   Toeplitz matrix C with c_ij = alpha^|i-j| for |i-j| <= band (band 5 in [1] Learnable SIM), over the
   flattened atom index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Impairments", "PhaseDependentAmplitude", "quantize_phases", "coupling_matrix"]

TWO_PI = 2 * np.pi


def quantize_phases(theta, bits: int) -> np.ndarray:
    """Round phases to the nearest of 2^bits uniform levels, wrapped into [0, 2 pi)."""
    if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= 16):
        raise ValueError(f"bits must be an integer in 1..16, got {bits!r}")
    step = TWO_PI / (1 << bits)
    codes = np.mod(np.rint(np.asarray(theta) / step), 1 << bits)
    return codes * step


def coupling_matrix(n: int, alpha: float, band: int = 5) -> np.ndarray:
    """Banded symmetric Toeplitz coupling matrix, c_ij = alpha^|i-j| for |i-j| <= band, else 0."""
    if not (0 <= alpha < 1):
        raise ValueError(f"coupling alpha must be in [0, 1), got {alpha!r}")
    idx = np.arange(n)
    dist = np.abs(idx[:, None] - idx[None, :])
    return np.where(dist <= band, alpha ** dist.astype(float), 0.0)


@dataclass(frozen=True)
class PhaseDependentAmplitude:
    """a(theta) = (1 - a_min) ((sin(theta - phi) + 1) / 2)^kappa + a_min."""

    a_min: float = 0.2
    phi: float = 0.43 * np.pi
    kappa: float = 1.6

    def __post_init__(self):
        if not (0 <= self.a_min <= 1):
            raise ValueError("a_min must be in [0, 1]")
        if not self.kappa >= 0:
            raise ValueError("kappa must be >= 0")

    def value_and_derivative(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base = (np.sin(theta - self.phi) + 1.0) / 2.0
        pw = base**self.kappa
        a = (1 - self.a_min) * pw + self.a_min
        # d/dtheta base^kappa = kappa base^(kappa-1) cos(theta-phi)/2; base can be 0 at one point
        with np.errstate(divide="ignore", invalid="ignore"):
            da = np.where(base > 0, (1 - self.a_min) * self.kappa * pw / base * np.cos(theta - self.phi) / 2, 0.0)
        return a, da


@dataclass(frozen=True)
class Impairments:
    """Model-side impairment knobs; all off by default.

    ``bits``: phase quantization (None = continuous). ``coupling``: alpha of the coupling matrix
    (None = none) with ``coupling_band``. ``phase_noise``: von Mises spread sigma in rad.
    ``amplitude``: a :class:`PhaseDependentAmplitude` (None = unit amplitude). ``stuck_mask``
    and ``stuck_phase``: (L, N) arrays of defective atoms and the phase they are stuck at.
    """

    bits: int | None = None
    coupling: float | None = None
    coupling_band: int = 5
    phase_noise: float | None = None
    amplitude: PhaseDependentAmplitude | None = None
    stuck_mask: np.ndarray | None = None
    stuck_phase: np.ndarray | None = None

    def __post_init__(self):
        if self.bits is not None and not (isinstance(self.bits, (int, np.integer)) and 1 <= self.bits <= 16):
            raise ValueError(f"bits must be None or an integer in 1..16, got {self.bits!r}")
        if self.coupling is not None and not (0 <= self.coupling < 1):
            raise ValueError(f"coupling alpha must be in [0, 1), got {self.coupling!r}")
        if self.phase_noise is not None and not (math.isfinite(self.phase_noise) and self.phase_noise >= 0):
            raise ValueError(f"phase_noise must be a finite spread >= 0 rad, got {self.phase_noise!r}")
        if (self.stuck_mask is None) != (self.stuck_phase is None):
            raise ValueError("stuck_mask and stuck_phase must be given together")
        if self.stuck_mask is not None:
            mask = np.asarray(self.stuck_mask, bool)
            phase = np.broadcast_to(np.asarray(self.stuck_phase, float), mask.shape).copy()
            object.__setattr__(self, "stuck_mask", mask)
            object.__setattr__(self, "stuck_phase", phase)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.bits, self.coupling, self.phase_noise, self.amplitude, self.stuck_mask))

    @classmethod
    def random_stuck(cls, n_layers: int, n_atoms: int, fraction: float, seed=None, **kw) -> Impairments:
        """Impairments with a seeded random ``fraction`` of atoms stuck at random phases."""
        rng = np.random.default_rng(seed)
        mask = rng.random((n_layers, n_atoms)) < fraction
        phase = rng.uniform(0, TWO_PI, (n_layers, n_atoms))
        return cls(stuck_mask=mask, stuck_phase=phase, **kw)

    def draw_phase_noise(self, shape, rng: np.random.Generator) -> np.ndarray | None:
        if not self.phase_noise:
            return None
        return rng.vonmises(0.0, 1.0 / self.phase_noise**2, size=shape)
