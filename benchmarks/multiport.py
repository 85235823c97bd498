"""Multiport solve cost, in one run on this machine.

    python -m benchmarks.multiport

(a) the block-recursive solve of (I - S_SS Theta) x = S_ST (the linear transfer H) for L = 2..16
    stages at N = 64 cells per stage (2N = 128 ports per stage), with reflections and coupling on:
    time per solve and time per stage (flat = linear in L);
(b) at L = 8, N = 64: block-recursive against a dense LU solve of the whole 1024-port system
    (target: >= 10x faster), and the two answers' agreement.
"""

from __future__ import annotations

import numpy as np

from benchmarks.timing import best_time
from simhw.physics.multiport import MultiportSIM
from simhw.physics.propagation import cascade_matrices
from simhw.values.bench_config import BenchConfig


def model(layers: int, solver: str) -> MultiportSIM:
    cfg = BenchConfig()
    g = cfg.geometry
    g.layers, g.rows, g.cols, g.receive_ports = layers, 8, 8, 2
    return MultiportSIM(cascade_matrices(g.build()), reflection=0.1, coupling=0.05, solver=solver)


def main() -> None:
    rng = np.random.default_rng(0)
    print("(a) block-recursive solve, N = 64")
    per_stage = []
    for layers in (2, 4, 6, 8, 10, 12, 14, 16):
        m = model(layers, "block")
        th = rng.uniform(0, 2 * np.pi, (layers, 64))
        t = best_time(lambda m=m, th=th: m.transfer(th))
        per_stage.append(t / layers)
        print(f"    L = {layers:2d}: {1e3 * t:7.2f} ms, {1e3 * t / layers:6.3f} ms per stage")
    print(f"    per-stage cost L=16 / L=2: {per_stage[-1] / per_stage[0]:.2f} (1.0 = linear in L)")
    th = rng.uniform(0, 2 * np.pi, (8, 64))
    mb, md = model(8, "block"), model(8, "dense")
    tb = best_time(lambda: mb.transfer(th))
    td = best_time(lambda: md.transfer(th), repeat=3)
    err = np.max(np.abs(mb.transfer(th) - md.transfer(th))) / np.max(np.abs(md.transfer(th)))
    print(
        f"(b) L = 8, N = 64: block {1e3 * tb:.2f} ms, dense {1e3 * td:.2f} ms: speed-up {td / tb:.1f}x "
        f"(target >= 10x); relative difference {err:.1e}"
    )


if __name__ == "__main__":
    main()
