"""Reproduce [3] Interlayer error calibration's case study (Fig. 4) on the model path.

    python -m calibration.reproduce_seed002 [--snr-db 30] [--stages 10] [--slots 100] [--seed 3]
                                            [--estimator gradient|codebook|learned] [--parameterization physical]
    python -m calibration.reproduce_seed002 --ev-sweep [--slots 1000]

28 GHz, 4 layers of 6x6 atoms, T_SIM = 0.01 m, a test UE 30 m in front of the SIM, 4 receive
antennas behind it, fabrication errors drawn with the paper's bounds (e_I = 0.1% lambda,
e_V = 1% lambda, e_P = 0.01 deg), random 2-bit pilot configurations, complex Gaussian noise at the
given pilot SNR (mean received power over noise power). Periodic multi-stage protocol: each stage
adds its slots and starts from the previous estimate inside a shrinking trust region.

The default run prints the NMSE of every interlayer matrix, of the last-layer-to-receiver matrix
and of the test channel at stage 0 (ideal model, nominal channel), after stage 1 (the
single-stage result) and after the last stage. ``--ev-sweep`` repeats one calibration of
``--slots`` slots for several in-plane error bounds e_V (Fig. 4(b)) and prints the reductions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calibration.calibration_run import radius_schedule
from calibration.calibrator import Calibrator
from calibration.metrics import truth_metrics
from calibration.parameterization import make_parameterization
from calibration.sources import FunctionSource
from simhw.physics.geometry import SPEED_OF_LIGHT, FabricationErrors, SimGeometry
from simhw.physics.model import SIMModel
from simhw.physics.propagation import cascade_matrices

F0 = 28e9
LAMBDA = SPEED_OF_LIGHT / F0
L, ROWS, COLS, M = 4, 6, 6, 4


def paper_ideal() -> SimGeometry:
    return SimGeometry.uniform(L, ROWS, COLS, F0, 0.01, n_outputs=M, input_distance=30.0)


def case_calibrator(
    bounds: FabricationErrors,
    stages: int,
    slots: int,
    snr_db: float,
    seed: int,
    estimator: str = "gradient",
    parameterization: str = "physical",
    iterations: int = 30,
):
    """(Calibrator, true geometry, true cascade) for a SIM drawn with ``bounds`` measured at ``snr_db``."""
    ideal = paper_ideal()
    true_geometry = ideal.with_errors(bounds, seed=seed)
    ct = cascade_matrices(true_geometry)
    truth_model = SIMModel(ct)
    source = FunctionSource(
        lambda codes, t: truth_model.response(codes * (np.pi / 2))[..., 0],
        [F0],
        2,
        (L, ROWS, COLS),
        snr_db=snr_db,
        seed=seed + 1000,
    )
    par = make_parameterization(parameterization, ideal)
    options = {"max_iter": iterations} if estimator == "gradient" else {}
    if estimator == "learned":
        options = {"snr_db": snr_db}
    cal = Calibrator(
        par,
        source,
        estimator,
        heldout_slots=100,
        bounds=bounds,
        seed=seed,
        truth=lambda: ct,
        max_slots=stages * slots,
        estimator_options=options,
        residual=False,
    )
    return cal, true_geometry, ct


def calibrate_case(
    bounds: FabricationErrors,
    stages: int,
    slots: int,
    snr_db: float,
    seed: int,
    estimator: str = "gradient",
    parameterization: str = "physical",
    iterations: int = 30,
):
    """One calibration of a SIM drawn with ``bounds``; returns (CalibrationRun, stage-0 metrics, seconds)."""
    cal, _, ct = case_calibrator(bounds, stages, slots, snr_db, seed, estimator, parameterization, iterations)
    stage0 = truth_metrics(cascade_matrices(paper_ideal()), ct)
    t0 = time.perf_counter()
    run = cal.calibrate(
        stages, slots, radius_schedule(stages) if stages > 1 else [None], protocol="periodic-multi-stage"
    )
    return run, stage0, time.perf_counter() - t0


def case_study(a) -> None:
    run, stage0, wall = calibrate_case(
        FabricationErrors.paper(LAMBDA),
        a.stages,
        a.slots,
        a.snr_db,
        a.seed,
        a.estimator,
        a.parameterization,
        a.iterations,
    )
    print(
        f"case study of [3]: pilot SNR {a.snr_db:g} dB, {a.stages} stages x {a.slots} slots, "
        f"{a.parameterization} parameterization, {a.estimator} estimator ({wall:.1f} s)"
    )
    head = ["NMSE (dB)", "W 1->2", "W 2->3", "W 3->4", "W 4->rx", "UE chan", "avg layers", "held-out"]
    print(f"{head[0]:<18}" + "".join(f"{h:>11}" for h in head[1:]))

    def row(name, t, heldout):
        return [name, *t["layers"], t["output"], t["channel"], t["average"], heldout]

    rows = [
        row("stage 0 (ideal)", stage0.to_dict(), run.initial_heldout_nmse_db),
        row("after stage 1", run.stages[0].truth, run.stages[0].heldout_nmse_db),
    ]
    if len(run.stages) > 1:
        rows.append(row(f"after stage {len(run.stages)}", run.stages[-1].truth, run.stages[-1].heldout_nmse_db))
    for r in rows:
        print(f"{r[0]:<18}" + "".join(f"{v:>11.2f}" for v in r[1:]))
    red = [rows[0][i] - rows[-1][i] for i in range(1, len(rows[0]))]
    single = rows[0][6] - rows[1][6]
    print(f"{'reduction (dB)':<18}" + "".join(f"{v:>11.2f}" for v in red))
    print(
        f"paper: layer 1->2 12.07 dB, average 9.25 dB, UE channel 8.48 dB. Here: layer 1->2 {red[0]:.2f} dB, "
        f"average {red[5]:.2f} dB, UE channel {red[4]:.2f} dB; single-stage average {single:.2f} dB vs "
        f"multi-stage {red[5]:.2f} dB"
    )


def ev_sweep(a) -> None:
    print(
        f"Fig. 4(b) of [3] Interlayer error calibration: e_V sweep, {a.slots} slots ({a.stages} stages), "
        f"pilot SNR {a.snr_db:g} dB, "
        f"{a.estimator} estimator, {a.parameterization} parameterization"
    )
    print(
        f"{'e_V (% lambda)':>15}{'avg before':>12}{'avg after':>11}{'reduction':>11}{'UE before':>11}{'UE after':>10}"
        f"{'seconds':>9}"
    )
    per_stage = a.slots // a.stages
    for pct in (0.5, 1.0, 2.0, 5.0, 10.0):
        bounds = FabricationErrors(spacing=1e-3 * LAMBDA, offset=pct / 100 * LAMBDA, rotation=np.radians(0.01))
        run, stage0, wall = calibrate_case(
            bounds, a.stages, per_stage, a.snr_db, a.seed, a.estimator, a.parameterization, a.iterations
        )
        after = run.stages[-1].truth
        print(
            f"{pct:>15.1f}{stage0.average:>12.2f}{after['average']:>11.2f}{stage0.average - after['average']:>11.2f}"
            f"{stage0.channel:>11.2f}{after['channel']:>10.2f}{wall:>9.1f}"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr-db", type=float, default=30.0)
    ap.add_argument("--stages", type=int, default=None, help="default 10 (case study) or 5 (e_V sweep)")
    ap.add_argument(
        "--slots",
        type=int,
        default=None,
        help="per stage (case study, default 100) or in total (e_V sweep, default 1000)",
    )
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--estimator", default="gradient", choices=("gradient", "codebook", "learned"))
    ap.add_argument("--parameterization", default="physical", choices=("physical", "hybrid"))
    ap.add_argument("--ev-sweep", action="store_true", help="the e_V sweep of Fig. 4(b) instead of the case study")
    a = ap.parse_args(argv)
    if a.ev_sweep:
        a.stages, a.slots = a.stages or 5, a.slots or 1000
        ev_sweep(a)
    else:
        a.stages, a.slots = a.stages or 10, a.slots or 100
        case_study(a)


if __name__ == "__main__":
    main()
