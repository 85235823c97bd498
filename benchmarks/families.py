"""Calibration model families side by side, and the multiport family's estimator efficiency.

    python -m benchmarks.families [--benches realistic,multiport,ideal] [--seeds 8]

(e) Every family on each bench, measured through the simulated bench (board firmware on a pty, the
    simulated VNA with its receiver noise and calibration residuals, the real drivers; 3 stages x 120
    pilots, 30 validation and 30 test configurations): the NMSE on the test set (which no choice saw),
    on 30 fresh configurations, the
    fit time (stages and residual stage; wall and processor seconds) and the fit time relative to the
    hybrid family's, all measured in one run. ``auto`` fits both and keeps what validation prefers.
(f) Estimator efficiency of the multiport family: its squared error of each physical parameter over
    seeded noise repeats at 30 dB pilot SNR on the multiport-only bench (the truth is in the family),
    against the Cramer-Rao bound with every other term and the receive terms as nuisances
    (calibration.network_fit.network_fisher); target MSE <= 2 x CRB.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from calibration.calibrator import Calibrator
from calibration.data import nmse_db
from calibration.network_fit import fit_network, network_fisher
from calibration.parameterization import bench_parameterization
from calibration.pilots import random_pilots
from calibration.sources import BenchSource, FunctionSource
from drivers.bench import open_devices
from sim_backend.bench import SimBench, make_truth
from simhw.values.bench_config import BenchConfig

BENCHES = {
    "realistic": ("realistic", {}),
    "multiport": ("ideal", {"truth_model": "multiport", "reflection": 0.1, "port_coupling": 0.02}),
    "ideal": ("ideal", {}),
}
FAMILIES = ("hybrid", "multiport", "auto")


def bench(name: str) -> BenchConfig:
    preset, sim = BENCHES[name]
    cfg = BenchConfig.named(preset, name=name)
    for k, v in sim.items():
        setattr(cfg.simulation, k, v)
    cfg.sweep.points = 5
    return cfg


def source(cfg: BenchConfig, snr_db: float, seed: int = 1):
    truth = make_truth(cfg)
    g, f = cfg.geometry, cfg.frequencies()

    def respond(codes, t):
        return truth.response(np.asarray(codes).reshape(len(codes), g.layers, g.rows, g.cols), g.bits, f)

    return FunctionSource(respond, f, g.bits, (g.layers, g.rows, g.cols), snr_db=snr_db, seed=seed), g.build(f), truth


@contextlib.contextmanager
def bench_source(cfg: BenchConfig):
    """(BenchSource through the simulated bench and the real drivers, ideal geometry)."""
    with SimBench(cfg) as sim:
        resolved = sim.resolved_config()
        with open_devices(resolved) as (board, vna):
            yield (
                BenchSource(
                    board,
                    vna,
                    resolved.frequencies(),
                    cfg.geometry.receive_ports,
                    resolved.sweep.ifbw,
                    resolved.sweep.power,
                    params=resolved.vna_params(),
                ),
                cfg.geometry.build(cfg.frequencies()),
            )


def family_table(names, stages: int = 3, slots: int = 120) -> list[dict]:
    rows = []
    print(f"(e) families through the simulated bench ({stages} stages x {slots}, 30 validation, 30 test, 30 fresh)")
    print(
        f"{'bench':<10}{'family':<11}{'kept':<10}{'test dB':>9}{'fresh dB':>9}{'fit s':>8}{'cpu s':>8}"
        f"{'cpu / hybrid':>13}"
    )
    for b in names:
        cfg = bench(b)
        g = cfg.geometry
        hybrid_cpu = None
        for fam in FAMILIES:
            with bench_source(cfg) as (src, ideal):
                par = bench_parameterization(fam, ideal, g.bits, atom_gains=True, receivers=cfg.calibration.receivers)
                cal = Calibrator(par, src, heldout_slots=30, seed=0)
                run = cal.calibrate(stages, slots)
                fresh = src.measure(random_pilots(30, g.layers, g.rows * g.cols, g.bits, np.random.default_rng(99)))
            m = run.model.metrics
            sel = m["selection"]
            fit_s = sum(v.get("fit_seconds", 0.0) for v in sel.values())
            cpu_s = sum(v.get("fit_cpu_seconds", 0.0) for v in sel.values())
            if fam == "hybrid":
                hybrid_cpu = cpu_s
            fresh_db = nmse_db(run.model.predict(fresh.codes, g.bits), fresh.y)
            row = {
                "bench": b,
                "family": fam,
                "kept": run.model.parameterization,
                "test_db": m["test_nmse_db"],
                "fresh_db": fresh_db,
                "fit_s": fit_s,
                "cpu_s": cpu_s,
                "ratio": cpu_s / hybrid_cpu,
            }
            rows.append(row)
            print(
                f"{b:<10}{fam:<11}{row['kept']:<10}{row['test_db']:>9.2f}{fresh_db:>9.2f}{fit_s:>8.1f}{cpu_s:>8.1f}"
                f"{row['ratio']:>13.2f}"
            )
    return rows


def efficiency(seeds: int = 8, snr_db: float = 30.0, slots: int = 360) -> np.ndarray:
    """MSE / CRB of the multiport family's physical parameters over seeded noise repeats."""
    cfg = bench("multiport")
    g = cfg.geometry
    src, ideal, truth = source(cfg, None)
    par = bench_parameterization("multiport", ideal, g.bits, receivers=cfg.calibration.receivers)
    codes = random_pilots(slots, g.layers, g.rows * g.cols, g.bits, np.random.default_rng(5))
    clean = src.measure(codes)
    p_true = par.physical.params_of(truth.geometry.errors)
    sigma2 = float(np.mean(np.abs(clean.y) ** 2)) / 10 ** (snr_db / 10)
    fit0 = fit_network(par, clean)  # the noise-free fit: where the estimator centres (its bias)
    info, _ = network_fisher(par, fit0.x, clean, sigma2)
    crb = np.diag(np.linalg.pinv(info, rcond=1e-12, hermitian=True))[: par.n_physical]
    err2 = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        noise = np.sqrt(sigma2 / 2) * (rng.standard_normal(clean.y.shape) + 1j * rng.standard_normal(clean.y.shape))
        noisy = clean.take(np.arange(clean.slots))
        noisy.y = clean.y + noise
        fit = fit_network(par, noisy, start=fit0.x)
        err2.append((fit.x[: par.n_physical] - p_true) ** 2)
    ratio = np.mean(err2, axis=0) / crb
    L = g.layers
    print(f"(f) multiport efficiency, {slots} pilots at {snr_db:g} dB, {seeds} noise seeds (MSE / CRB):")
    for i, name in enumerate(("spacing", "offset", "rotation")):
        sl = slice(i * L, (i + 1) * L)
        print(
            f"    {name:<9} " + " ".join(f"{v:6.2f}" for v in ratio[sl]) + f"   CRB std {np.sqrt(crb[sl]).mean():.3g}"
        )
    print(f"    all {ratio.size}: mean {ratio.mean():.2f}, max {ratio.max():.2f} (target <= 2)")
    return ratio


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benches", default="realistic,multiport,ideal")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--only", choices=("e", "f"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if a.only != "f":
        family_table(a.benches.split(","))
    if a.only != "e":
        efficiency(a.seeds)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
