"""Calibration cost on the paper scenario (seed 002 case study), model path.

    python -m benchmarks.calibration [--seeds 3] [--snr-db 30]

(a) wall time of the full 10-stage x 100-slot multi-stage calibration (physical model, gradient
    estimator, 30 L-BFGS-B iterations per stage), against the 10 s target on this machine; the
    time includes measuring pilots and held-out references on the model and scoring each stage;
(b) for each estimator, the fewest pilot slots of one single-stage calibration that reach the
    paper's 9.25 dB average interlayer-NMSE reduction (median over seeds), from a ladder of slot
    counts.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calibration.reproduce_seed002 import LAMBDA, calibrate_case
from simhw.physics.geometry import FabricationErrors

LADDER = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500)
TARGET_DB = 9.25


def reduction(run, stage0) -> float:
    return stage0.average - run.stages[-1].truth["average"]


def slots_needed(estimator: str, seed: int, snr_db: float) -> tuple[int | None, float]:
    bounds = FabricationErrors.paper(LAMBDA)
    for slots in LADDER:
        run, stage0, _ = calibrate_case(bounds, 1, slots, snr_db, seed, estimator, iterations=100)
        if reduction(run, stage0) >= TARGET_DB:
            return slots, reduction(run, stage0)
    return None, reduction(run, stage0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--snr-db", type=float, default=30.0)
    a = ap.parse_args(argv)
    bounds = FabricationErrors.paper(LAMBDA)
    t0 = time.perf_counter()
    run, stage0, wall = calibrate_case(bounds, 10, 100, a.snr_db, 3)
    print(f"(a) 10 stages x 100 slots, physical + gradient: {wall:.2f} s wall (target 10 s, ratio {wall / 10:.2f}); "
          f"average reduction {reduction(run, stage0):.2f} dB, UE channel "
          f"{stage0.channel - run.stages[-1].truth['channel']:.2f} dB")
    print(f"(b) slots for a {TARGET_DB} dB average reduction in one stage (pilot SNR {a.snr_db:g} dB, "
          f"seeds 0..{a.seeds - 1}, ladder {LADDER}):")
    print(f"{'estimator':<10}{'per seed':>24}{'median':>8}{'seconds':>9}")
    for est in ("gradient", "codebook", "learned"):
        t = time.perf_counter()
        got = [slots_needed(est, s, a.snr_db)[0] for s in range(a.seeds)]
        vals = [g if g is not None else np.inf for g in got]
        med = float(np.median(vals))
        shown = ", ".join(str(g) if g is not None else f">{LADDER[-1]}" for g in got)
        print(f"{est:<10}{shown:>24}{med:>8.0f}{time.perf_counter() - t:>9.1f}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
