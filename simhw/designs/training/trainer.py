"""Train phase configurations: objective + model + options -> result with a PhaseConfig.

Two update rules, shared options (docs/physics.md, sec. 4):

* ``method="gd"`` - [1] Learnable SIM's mini-batch gradient descent: every episode t uses the learning rate
  eta_t = beta^(t-1) eta_0, a mini-batch of pilots, and updates the layers one after another
  (``update="layer"``, each layer with a fresh gradient, as in the paper) or all at once
  (``update="joint"``). Stops after ``episodes`` or when the loss changes by less than ``tol``.
* ``method="dngd"`` - [5] ISAC with SIM's dual-normalised differential gradient descent for objectives with
  two components (sensing, communication): each component's gradient is normalised element-wise,
  g / (|g| + eps mean|g|), the two are combined with the weights, the sum is normalised by its
  largest element and applied with the decaying step; at most ``episodes`` iterations (60 in the
  paper), stopping when the relative change of the weighted objective is below ``tol``.

With ``step="max"`` (default) a gradient step is scaled so its largest phase change is eta_t rad;
``step="raw"`` applies eta_t times the gradient itself. Several random starts (``starts``); the
best is kept (DNGD: lowest sensing MSE when the sensing weight dominates, else highest rate).

Hardware-aware: with ``bits`` every start's phases are quantized to the board's codes;
``polish`` then runs a coordinate search over the discrete codes on the same model (each atom in
turn takes its best level) until a sweep changes nothing, and the start whose quantized result
is best wins (that is what the board shows). Everything is seeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from simhw.designs.training.objectives import Objective, TrainingError
from simhw.values.phase_config import PhaseConfig

__all__ = ["TrainOptions", "TrainResult", "train", "quantize_codes"]

TWO_PI = 2 * np.pi


@dataclass
class TrainOptions:
    method: str = "gd"  # "gd" or "dngd"
    episodes: int = 500
    eta0: float = 0.8
    beta: float = 0.99
    update: str = "layer"  # "layer" or "joint" (gd)
    batch: int | None = None  # pilots per mini-batch (None: all)
    step: str = "max"  # "max" or "raw"
    tol: float = 0.0
    starts: int = 1
    seed: int | None = 0
    bits: int | None = None
    polish: bool = True
    weights: tuple = (0.5, 0.5)  # dngd: (sensing, communication)
    eps: float = 0.1  # dngd: element-wise normalisation smoothing, relative to mean |g|

    def check(self, objective: Objective) -> None:
        if self.method not in ("gd", "dngd"):
            raise TrainingError(f"unknown method {self.method!r}: 'gd' or 'dngd'")
        if self.update not in ("layer", "joint"):
            raise TrainingError(f"unknown update {self.update!r}: 'layer' or 'joint'")
        if self.step not in ("max", "raw"):
            raise TrainingError(f"unknown step {self.step!r}: 'max' or 'raw'")
        if self.episodes < 1 or self.starts < 1:
            raise TrainingError("episodes and starts must be >= 1")
        if not (self.eta0 > 0 and 0 < self.beta <= 1):
            raise TrainingError("need eta0 > 0 and 0 < beta <= 1")
        if self.batch is not None and not 1 <= self.batch <= objective.n_samples():
            raise TrainingError(f"batch must be in 1..{objective.n_samples()} (the pilots available)")
        if self.bits is not None and not 1 <= self.bits <= 16:
            raise TrainingError("bits must be in 1..16")
        if self.method == "dngd" and len(objective.components) != 2:
            raise TrainingError(
                f"DNGD needs an objective with two components; {objective.name!r} has {len(objective.components)}"
            )


@dataclass
class TrainResult:
    """What :func:`train` returns. ``theta``: the best continuous phases (L, N); ``codes``: the
    quantized (and polished) codes (L, N) when ``bits`` was set; metrics before and after."""

    theta: np.ndarray
    loss: float
    history: list
    metrics: dict
    start_losses: list
    episodes: int
    seconds: float
    options: TrainOptions
    objective: dict
    codes: np.ndarray | None = None
    loss_quantized: float | None = None
    metrics_quantized: dict = field(default_factory=dict)
    polish_changes: int = 0

    @property
    def final_metrics(self) -> dict:
        """The metrics of what goes to the board: quantized if quantized."""
        return self.metrics_quantized if self.codes is not None else self.metrics

    def config(self, shape: tuple[int, int], name: str = "", **metadata) -> PhaseConfig:
        """The result as a :class:`PhaseConfig` of ``shape`` = (rows, cols) per layer."""
        rows, cols = shape
        extra = {"metrics": _jsonable(self.final_metrics), "training": self.objective}
        if self.codes is not None:
            codes = self.codes.reshape(self.codes.shape[0], rows, cols)
            return PhaseConfig(
                codes,
                self.options.bits,
                name=name,
                objective=self.objective.get("objective", ""),
                extra=extra,
                **metadata,
            )
        bits = 16  # continuous phases: stored at 16-bit resolution
        return PhaseConfig.from_phases(
            self.theta,
            bits,
            shape=shape,
            name=name,
            objective=self.objective.get("objective", ""),
            extra=extra,
            **metadata,
        )

    def summary(self) -> dict:
        return {
            "loss": self.loss,
            "metrics": _jsonable(self.metrics),
            "loss_quantized": self.loss_quantized,
            "metrics_quantized": _jsonable(self.metrics_quantized),
            "episodes": self.episodes,
            "seconds": self.seconds,
            "starts": self.start_losses,
            "polish_changes": self.polish_changes,
            "objective": self.objective,
        }


def _jsonable(d: dict) -> dict:
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in d.items()}


def quantize_codes(theta, bits: int) -> np.ndarray:
    """Integer codes (nearest of 2^bits levels, wrapped) for phases ``theta``."""
    return np.mod(np.rint(np.asarray(theta) / (TWO_PI / (1 << bits))), 1 << bits).astype(np.intp)


def _step(g: np.ndarray, kind: str) -> np.ndarray:
    if kind == "raw":
        return g
    m = np.max(np.abs(g))
    return g / m if m > 0 else g


def _run_gd(objective: Objective, theta: np.ndarray, o: TrainOptions, rng, progress, start: int):
    history = []
    n = objective.n_samples()
    prev = None
    for t in range(o.episodes):
        eta = o.eta0 * o.beta**t
        samples = None if o.batch is None or o.batch >= n else np.sort(rng.choice(n, o.batch, replace=False))
        if o.update == "layer":
            for layer in range(objective.n_layers):
                loss, g = objective.loss_and_grad(theta, samples)
                if layer == 0:
                    first = loss
                theta[layer] -= eta * _step(g[layer], o.step)
            loss = first
        else:
            loss, g = objective.loss_and_grad(theta, samples)
            theta -= eta * _step(g, o.step)
        history.append(float(loss))
        if progress is not None:
            progress({"kind": "episode", "start": start, "episode": t + 1, "episodes": o.episodes, "loss": loss})
        if o.tol and prev is not None and abs(prev - loss) < o.tol:
            break
        prev = loss
    return np.mod(theta, TWO_PI), history


def _run_dngd(objective: Objective, theta: np.ndarray, o: TrainOptions, progress, start: int):
    history = []
    ws, wc = o.weights
    prev = None
    names = objective.components
    for t in range(o.episodes):
        comps = objective.component_grads(theta)
        (vs, gs), (vc, gc) = comps[names[0]], comps[names[1]]
        total = ws * vs + wc * vc
        history.append(float(total))
        if progress is not None:
            progress({"kind": "episode", "start": start, "episode": t + 1, "episodes": o.episodes, "loss": total})
        if o.tol and prev is not None and abs(total - prev) <= o.tol * max(abs(prev), 1e-12):
            break
        prev = total
        ns = gs / (np.abs(gs) + o.eps * np.mean(np.abs(gs)) + 1e-300)
        nc = gc / (np.abs(gc) + o.eps * np.mean(np.abs(gc)) + 1e-300)
        d = ws * ns + wc * nc
        theta = theta - o.eta0 * o.beta**t * _step(d, "max")
    return np.mod(theta, TWO_PI), history


def _better_dngd(objective, o, a: np.ndarray, b: np.ndarray) -> bool:
    """Seed 004's selection: lower sensing MSE when sensing weighs more, else higher rate."""
    ca, cb = objective.component_grads(a), objective.component_grads(b)
    idx = 0 if o.weights[0] >= o.weights[1] else 1
    name = objective.components[idx]
    return ca[name][0] < cb[name][0]


def polish_codes(objective: Objective, codes: np.ndarray, bits: int, rng, max_sweeps: int = 10) -> tuple:
    """Coordinate search over discrete codes: each atom in turn takes its best level; returns
    (codes, loss, changes). Batched over the 2^bits levels of one atom."""
    codes = codes.copy()
    levels = np.arange(1 << bits)
    loss = float(objective.loss_batch(*objective.applied(codes[None], bits))[0])
    changes = 0
    for _ in range(max_sweeps):
        changed = 0
        for flat in rng.permutation(codes.size):
            layer, atom = divmod(int(flat), codes.shape[1])
            cand = np.repeat(codes[None], levels.size, axis=0)
            cand[:, layer, atom] = levels
            losses = objective.loss_batch(*objective.applied(cand, bits))
            best = int(np.argmin(losses))
            if losses[best] < loss - 1e-12 * max(1.0, abs(loss)) and levels[best] != codes[layer, atom]:
                codes[layer, atom] = levels[best]
                loss = float(losses[best])
                changed += 1
        changes += changed
        if not changed:
            break
    return codes, loss, changes


def train(objective: Objective, options: TrainOptions | None = None, progress=None, init=None) -> TrainResult:
    """Train ``objective`` (see the module docstring); ``init``: optional starting phases (L, N)."""
    o = options or TrainOptions()
    o.check(objective)
    shape = (objective.n_layers, objective.n_atoms)
    seeds = np.random.SeedSequence(o.seed).spawn(o.starts + 1)
    inits = np.random.default_rng(seeds[0]).uniform(0, TWO_PI, (o.starts,) + shape)  # the same for any model
    t0 = time.perf_counter()
    best = None
    start_losses = []
    total_episodes = 0
    for s in range(o.starts):
        rng = np.random.default_rng(seeds[s + 1])  # mini-batches and polish order of this start
        theta = np.array(init, float, copy=True) if (init is not None and s == 0) else inits[s].copy()
        if theta.shape != shape:
            raise TrainingError(f"init must have shape {shape}, got {theta.shape}")
        if o.method == "gd":
            theta, hist = _run_gd(objective, theta, o, rng, progress, s)
        else:
            theta, hist = _run_dngd(objective, theta, o, progress, s)
        total_episodes += len(hist)
        loss = float(objective.loss_batch(theta[None])[0])
        cand = {"theta": theta, "loss": loss, "history": hist}
        if o.bits is not None:  # hardware-aware: every start is judged by what the board would show
            codes = quantize_codes(theta, o.bits)
            changes = 0
            if o.polish:
                codes, _, changes = polish_codes(objective, codes, o.bits, rng)
            th, amp = objective.applied(codes[None], o.bits)
            cand.update(
                codes=codes,
                changes=changes,
                applied=(th[0], None if amp is None else amp[0]),
                loss_q=float(objective.loss_batch(th, amp)[0]),
            )
        start_losses.append(cand.get("loss_q", loss))
        if best is None:
            best = cand
        elif o.method == "dngd" and o.bits is None:
            best = cand if _better_dngd(objective, o, theta, best["theta"]) else best
        elif cand.get("loss_q", loss) < best.get("loss_q", best["loss"]):
            best = cand
    theta = best["theta"]
    result = TrainResult(
        theta=theta,
        loss=best["loss"],
        history=best["history"],
        metrics=objective.metrics(theta),
        start_losses=start_losses,
        episodes=total_episodes,
        seconds=0.0,
        options=o,
        objective=objective.describe(),
    )
    if o.bits is not None:
        result.codes, result.polish_changes = best["codes"], best["changes"]
        result.loss_quantized = best["loss_q"]
        result.metrics_quantized = objective.metrics(*best["applied"])
    result.seconds = time.perf_counter() - t0
    if progress is not None:
        progress({"kind": "trained", "result": result})
    return result
