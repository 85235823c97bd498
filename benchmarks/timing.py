"""The timing every benchmark uses: best of ``repeat`` runs after one warm-up run."""

from __future__ import annotations

import time


def best_time(fn, repeat: int = 5) -> float:
    fn()  # warm-up: caches, lazy imports, first-touch allocation
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
