"""Codebook-based calibration: hierarchical coarse-to-fine search ([3] Interlayer error calibration, sec. III-B).

The offline codebook is a set of candidate parameter sets for one layer at a time: a grid of
``points`` values per physical parameter of that layer (spacing, offset, rotation), spanning the
fabrication-error box at level 0 and a box ``shrink`` times smaller around the current best at
every next level. The online search walks the layers (``sweeps`` times per level), scores every
candidate of the layer's codebook by the measured-vs-model error (all candidates in one batched
forward pass) and keeps the best index. ``levels`` sets the search depth; ``time_budget`` (s) stops
descending when the time is spent, so the depth follows the budget.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from calibration.data import CalibrationData, Objective
from calibration.estimators import Fit, finish
from calibration.parameterization import Parameterization
from simhw.physics.geometry import FabricationErrors

__all__ = ["CodebookEstimator"]


class CodebookEstimator:
    """Hierarchical codebook search over the physical parameters of ``par`` (physical or hybrid)."""

    name = "codebook"

    def __init__(
        self,
        par: Parameterization,
        bounds: FabricationErrors,
        points: int = 5,
        levels: int = 8,
        shrink: float = 0.45,
        sweeps: int = 2,
        time_budget: float | None = None,
    ):
        physical = getattr(par, "physical", par)
        if physical.name != "physical":
            raise ValueError(f"the codebook search needs physical parameters; {par.name} has none")
        if points < 2 or levels < 1 or not 0 < shrink < 1:
            raise ValueError("need points >= 2, levels >= 1 and 0 < shrink < 1")
        self.par, self.physical = par, physical
        self.bounds = bounds
        self.points, self.levels, self.shrink, self.sweeps = points, levels, shrink, sweeps
        self.time_budget = time_budget
        L = physical.n_layers
        self.blocks = [np.array([l, L + l, 2 * L + l]) for l in range(L)]  # one layer's parameters
        grid = np.linspace(-1.0, 1.0, points)
        self.codebook = np.array(list(itertools.product(grid, repeat=3)))  # (points^3, 3) unit offsets

    def fit(
        self, data: CalibrationData, start: np.ndarray | None = None, radius: float | None = None, iteration=None
    ) -> Fit:
        t0 = time.perf_counter()
        par = self.par
        objective = Objective(par, data, iteration)
        x = par.initial() if start is None else par.check(start).copy()
        half = self.physical.prior(self.bounds)
        if radius is not None:  # a protocol's trust region, in units of the parameter scales
            half = np.minimum(half, radius * self.physical.scale)
        half = np.where(half > 0, half, 0.0)
        best = float(objective.misfits(x[None])[0])
        history = [best]
        depth = 0
        for level in range(self.levels):
            if self.time_budget is not None and time.perf_counter() - t0 > self.time_budget:
                break
            span = half * self.shrink**level
            for _ in range(self.sweeps):
                for block in self.blocks:
                    cands = np.repeat(x[None], len(self.codebook), axis=0)
                    cands[:, block] += self.codebook * span[block]
                    err = objective.misfits(cands)
                    k = int(np.argmin(err))
                    if err[k] < best:
                        best, x = float(err[k]), cands[k]
                    history.append(best)
            depth = level + 1
        fit = finish(objective, x, "codebook", depth, t0, history)
        return fit
