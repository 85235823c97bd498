"""Training cost, in one run on this machine.

    python -m benchmarks.training [--episodes 1000]

(a) [1] Learnable SIM's separation training at K = 4, L = 5, N = 64 (64 QPSK pilots, layer-by-layer
    updates: every episode is L forward + backward sweeps): wall time for ``--episodes`` episodes
    and episodes per second, for layer-by-layer and joint updates;
(b) the forward-plus-gradient cost against a forward alone on the same model (the analytic
    backward sweep should cost a small constant times a forward);
(c) [5] ISAC with SIM's DNGD (N = 100, L = 4, 5 starts x 60 iterations): wall time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.timing import best_time
from simhw.designs.training import TrainOptions, train
from simhw.designs.training.scenarios import isac_scenario, separation_scenario


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1000)
    a = ap.parse_args(argv)
    sc = separation_scenario(n_side=8, layers=5, users=4, seed=0)
    obj = sc.objective
    for update in ("layer", "joint"):
        opts = TrainOptions(episodes=a.episodes, eta0=0.8, beta=0.995, step="raw", update=update)
        t0 = time.perf_counter()
        r = train(obj, opts)
        wall = time.perf_counter() - t0
        print(
            f"(a) K=4 L=5 N=64, {a.episodes} episodes, {update:<5} updates: {wall:6.2f} s, "
            f"{a.episodes / wall:7.1f} episodes/s, final constellation MSE {r.metrics['constellation_mse']:.2e}"
        )
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, (5, 64))
    fwd = best_time(lambda: [obj.loss_batch(theta[None]) for _ in range(200)], 3) / 200
    both = best_time(lambda: [obj.loss_and_grad(theta) for _ in range(200)], 3) / 200
    print(f"(b) forward {1e6 * fwd:7.1f} us, forward + analytic gradient {1e6 * both:7.1f} us: ratio {both / fwd:.2f}")
    isac = isac_scenario(seed=0)
    t0 = time.perf_counter()
    r = train(isac.objective, TrainOptions(method="dngd", episodes=60, eta0=0.5, beta=0.95, starts=5))
    print(
        f"(c) ISAC DNGD N=100 L=4, 5 starts x 60 iterations: {time.perf_counter() - t0:6.2f} s "
        f"(sum rate {r.metrics['sum_rate']:.1f} bit/s/Hz, beam MSE {r.metrics['beam_mse_db']:.1f} dB)"
    )


if __name__ == "__main__":
    main()
