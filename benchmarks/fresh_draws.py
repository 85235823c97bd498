"""How often the reported test-set NMSE agrees with 30 fresh configurations, and why not always.

    python -m benchmarks.fresh_draws [--seeds 4] [--pool 300] [--draws 2000]

(g) For each calibration seed, the realistic bench (through the simulated bench and the real drivers,
    multiport family, 3 stages x 120 pilots, 30 validation and 30 test configurations) is calibrated,
    then ``pool`` fresh configurations are measured twice. Printed per seed:

    - the NMSE the calibration reports (its test set) and its 90 % bootstrap interval;
    - the pooled NMSE over all fresh configurations (the model's error on the population, up to the
      pool's own small sampling error) and the sweep-to-sweep noise floor from the repeat;
    - over ``draws`` random sets of 30 of the fresh configurations: the standard deviation of their NMSE,
      and the fraction within 1 dB of the reported figure;
    - the same standard deviation with every configuration's error energy set to the mean (only the
      signal power varies) and with every signal energy set to the mean (only the error varies): the
      two sources of a 30-configuration set's sampling spread.

Then the bias (reported minus pooled) over seeds: a test set that no choice saw is unbiased, so the
mean should be near 0 within its seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.families import bench, bench_source
from calibration.calibrator import Calibrator
from calibration.parameterization import bench_parameterization
from calibration.pilots import random_pilots

SET = 30  # configurations in a fresh set, as the HIL check and the demo measure


def _db(x):
    return 10 * np.log10(x)


def set_nmse_db(miss: np.ndarray, energy: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """The NMSE (dB) of each set of configurations in ``picks`` (draws, SET), from their error and signal energies."""
    return _db(miss[picks].sum(axis=1) / energy[picks].sum(axis=1))


def one_seed(seed: int, pool: int, draws: int) -> dict:
    cfg = bench("realistic")
    g = cfg.geometry
    with bench_source(cfg) as (src, ideal):
        par = bench_parameterization("multiport", ideal, g.bits, atom_gains=True, receivers=cfg.calibration.receivers)
        run = Calibrator(par, src, heldout_slots=SET, seed=seed).calibrate(3, 120)
        codes = random_pilots(pool, g.layers, g.rows * g.cols, g.bits, np.random.default_rng(10_000 + seed))
        first, again = src.measure(codes), src.measure(codes)
    miss = np.sum(np.abs(run.model.predict(first.codes, g.bits) - first.y) ** 2, axis=(1, 2))
    energy = np.sum(np.abs(first.y) ** 2, axis=(1, 2))
    noise = np.sum(np.abs(again.y - first.y) ** 2) / 2
    picks = np.argsort(np.random.default_rng(seed).random((draws, pool)), axis=1)[:, :SET]
    sets = set_nmse_db(miss, energy, picks)
    m = run.model.metrics
    return {
        "seed": seed,
        "reported": float(m["test_nmse_db"]),
        "interval": m.get("test_interval_db") or [np.nan, np.nan],
        "pooled": float(_db(miss.sum() / energy.sum())),
        "noise": float(_db(noise / energy.sum())),
        "sd": float(np.std(sets)),
        "within": float(np.mean(np.abs(sets - m["test_nmse_db"]) <= 1.0)),
        "sd_signal": float(np.std(set_nmse_db(np.full(pool, miss.mean()), energy, picks))),
        "sd_error": float(np.std(set_nmse_db(miss, np.full(pool, energy.mean()), picks))),
    }


def fresh_draws(seeds: int = 4, pool: int = 300, draws: int = 2000) -> list[dict]:
    print(
        f"(g) realistic bench, multiport family, 3 x 120 pilots, {SET} test configurations; {pool} fresh ones, "
        f"{draws} draws of {SET}"
    )
    print(
        f"{'seed':>4}{'reported':>10}{'90 % interval':>18}{'pooled':>9}{'noise':>9}{'bias':>7}"
        f"{'sd of 30':>10}{'within 1 dB':>13}{'sd: signal':>12}{'sd: error':>11}"
    )
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        r = one_seed(seed, pool, draws)
        rows.append(r)
        lo, hi = r["interval"]
        print(
            f"{seed:>4}{r['reported']:>10.2f}{f'{lo:.2f} to {hi:.2f}':>18}{r['pooled']:>9.2f}{r['noise']:>9.2f}"
            f"{r['reported'] - r['pooled']:>7.2f}{r['sd']:>10.2f}{r['within']:>13.0%}{r['sd_signal']:>12.2f}"
            f"{r['sd_error']:>11.2f}   ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    bias = np.array([r["reported"] - r["pooled"] for r in rows])
    within = np.mean([r["within"] for r in rows])
    print(
        f"bias (reported - pooled): mean {bias.mean():+.2f} dB, seed-to-seed sd {bias.std(ddof=1) if seeds > 1 else 0:.2f} "
        f"dB; a fresh set of {SET} lies within 1 dB of the reported figure in {within:.0%} of draws"
    )
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--draws", type=int, default=2000)
    a = ap.parse_args(argv)
    fresh_draws(a.seeds, a.pool, a.draws)


if __name__ == "__main__":
    main()
