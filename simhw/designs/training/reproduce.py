"""Reproduce the trends of [1] Learnable SIM and of [5] ISAC with SIM (DNGD): tables and plots.

    python -m simhw.designs.training.reproduce seed000 --out out/seed000 [--quick]
    python -m simhw.designs.training.reproduce seed004 --out out/seed004 [--quick]

seed000: constellation MSE vs N (K = 4, L = 5, N = 25, 36, 49, 64, noise-free) next to the paper's
values (geometric mean over channel draws, after 300 and 1000 episodes); jamming-aware vs jamming-agnostic SER and sum rate vs SNR with
the reactive jammer in the data; B-bit quantization (2..6 bits and continuous) of the
jamming-aware configuration. seed004: a sensing/communication weight sweep (sum rate vs
beam-matching MSE) and the beam pattern of a balanced design. ``--quick`` uses fewer draws and
episodes (for CI); the full run takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from simhw.designs.training import plots
from simhw.designs.training.evaluation import ser_and_rate
from simhw.designs.training.scenarios import isac_scenario, separation_scenario
from simhw.designs.training.trainer import TrainOptions, train
from simhw.physics.impairments import quantize_phases

PAPER_MSE = {25: 1.456e-2, 36: 1.092e-4, 49: 2.147e-6, 64: 1.674e-8}


def _geomean(x) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(x, 1e-300)))))


def seed000(out: Path, quick: bool = False, say=print) -> dict:
    budgets = (300,) if quick else (300, 1000)
    episodes = budgets[-1]
    draws = 2 if quick else 5
    opts = TrainOptions(episodes=episodes, eta0=0.8, beta=0.995, step="raw", update="layer")
    table, received, histories = [], {}, {}
    say(
        "constellation MSE, K = 4, L = 5, noise-free; geometric mean over "
        f"{draws} channel draws after {' and '.join(map(str, budgets))} episodes"
    )
    for n_side in (5, 6, 7, 8):
        mses = {b: [] for b in budgets}
        diag = []
        for d in range(draws):
            sc = separation_scenario(n_side=n_side, seed=d)
            for b in budgets:
                r = train(sc.objective, TrainOptions(**{**opts.__dict__, "episodes": b}))
                mses[b].append(r.metrics["constellation_mse"])
            diag.append((r.metrics["diagonal_strength"], r.metrics["off_diagonal_strength"]))
            if d == 0:
                y = sc.objective.received(r.theta)[0]
                received[f"N = {n_side**2}"] = y * (
                    np.linalg.norm(sc.objective.pilots.T, axis=0) / np.linalg.norm(y, axis=0)
                )
                histories[f"N = {n_side**2}"] = r.history
        row = {
            "N": n_side**2,
            "paper": PAPER_MSE[n_side**2],
            **{f"mse_T{b}": _geomean(mses[b]) for b in budgets},
            "draws": {str(b): mses[b] for b in budgets},
            "diagonal_strength": float(np.mean([x[0] for x in diag])),
            "off_diagonal_strength": float(np.mean([x[1] for x in diag])),
        }
        table.append(row)
        say(
            f"N = {row['N']:3d}: paper {row['paper']:.3e}  "
            + "  ".join(f"T={b}: {row[f'mse_T{b}']:.3e}" for b in budgets)
            + f"  (|diag| {row['diagonal_strength']:.4f}, |off-diag| {row['off_diagonal_strength']:.2e})"
        )
    plots.plot_constellation(received, out / "seed000_constellations.png", "K = 4, L = 5: trained, noise-free")
    plots.plot_losses(histories, out / "seed000_losses.png")

    snrs = [0, 5, 10, 15, 20]
    agnostic = separation_scenario(n_side=8, seed=1, with_jammer_channel=True)
    aware = separation_scenario(n_side=8, seed=1, jamming_aware=True)
    ra, rw = train(agnostic.objective, opts), train(aware.objective, opts)
    symbols = 4096 if quick else 32768
    hj = agnostic.jammer_channel
    jam = {
        "jamming-agnostic": ser_and_rate(agnostic.objective, ra.theta, snrs, symbols, hj),
        "jamming-aware": ser_and_rate(agnostic.objective, rw.theta, snrs, symbols, hj),
    }
    for k, v in jam.items():
        ser, rate = [f"{s:.2e}" for s in v["ser"]], [f"{s:.1f}" for s in v["sum_rate"]]
        say(f"{k:<17} SER {ser} sum rate {rate}")
    bits = {}
    for b in (2, 3, 4, 5, 6, None):
        th = rw.theta if b is None else quantize_phases(rw.theta, b)
        bits["continuous" if b is None else f"{b} bits"] = ser_and_rate(agnostic.objective, th, snrs, symbols, hj)
    say("quantized (jamming-aware): " + "; ".join(f"{k}: SER@20dB {v['ser'][-1]:.2e}" for k, v in bits.items()))
    plots.plot_ser(jam, out / "seed000_jamming_ser.png", "reactive jammer present: SER vs SNR")
    plots.plot_ser(bits, out / "seed000_quantization_ser.png", "jamming-aware SIM, B-bit phases")
    y_ag = agnostic.objective.received(
        ra.theta, inputs=agnostic.objective.inputs + hj[:, None] * aware.objective.jammer[1][None, :]
    )[0]
    y_aw = agnostic.objective.received(rw.theta, inputs=aware.objective.inputs)[0]
    norm = lambda y: y * np.sqrt(4) / np.linalg.norm(y, axis=0)  # noqa: E731
    plots.plot_constellation(
        {"jamming-agnostic": norm(y_ag), "jamming-aware": norm(y_aw)},
        out / "seed000_jamming_constellations.png",
        "pilots with the jammer, noise-free",
    )
    return {"mse_vs_n": table, "jamming": jam, "quantization": bits, "episodes": episodes, "draws": draws}


def seed004(out: Path, quick: bool = False, say=print) -> dict:
    weights = [0.0, 0.25, 0.5, 0.75, 1.0] if not quick else [0.0, 0.5, 1.0]
    starts = 2 if quick else 5
    rows = []
    best = None
    for ws in weights:
        sc = isac_scenario(seed=0, weights=(ws, 1 - ws))
        r = train(
            sc.objective,
            TrainOptions(
                method="dngd", episodes=60, eta0=0.5, beta=0.95, starts=starts, tol=1e-4, weights=(ws, 1 - ws)
            ),
        )
        pat = sc.objective.pattern(r.theta)
        q = int(np.argmax(pat))
        row = {
            "w_sensing": ws,
            "w_communication": 1 - ws,
            "sum_rate": r.metrics["sum_rate"],
            "beam_mse_db": r.metrics["beam_mse_db"],
            "peak_deg": [float(np.rad2deg(sc.grid[0][q])), float(np.rad2deg(sc.grid[1][q]))],
            "peak_in_target": bool(sc.objective.desired[q] == 1.0),
        }
        rows.append(row)
        say(
            f"w_s = {ws:.2f}: sum rate {row['sum_rate']:6.2f} bit/s/Hz, beam-matching MSE {row['beam_mse_db']:6.2f} dB,"
            f" peak at theta {row['peak_deg'][0]:.0f}, phi {row['peak_deg'][1]:.0f} deg"
        )
        if ws == 0.5:
            best = (sc, r, pat)
        plots.plot_beam_pattern(
            pat,
            sc.grid_shape,
            *sc.grid,
            out / f"seed004_pattern_ws{ws:.2f}.png",
            targets=sc.targets,
            users=list(zip(*sc.user_angles)),
            title=f"w_s = {ws:.2f}: rate {row['sum_rate']:.1f} bit/s/Hz, MSE {row['beam_mse_db']:.1f} dB",
        )
    plots.plot_tradeoff(
        [r["w_sensing"] for r in rows],
        [r["sum_rate"] for r in rows],
        [r["beam_mse_db"] for r in rows],
        out / "seed004_tradeoff.png",
    )
    sc, r, _ = best
    plots.plot_losses({"w_s = 0.5": r.history}, out / "seed004_convergence.png", "weighted objective", log=False)
    return {"sweep": rows, "starts": starts}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="reproduce the trends of [1] Learnable SIM or [5] ISAC with SIM")
    ap.add_argument("paper", choices=("seed000", "seed004"))
    ap.add_argument("--out", default="out/training", help="directory for the tables (JSON) and plots")
    ap.add_argument("--quick", action="store_true", help="fewer draws and episodes")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    result = (seed000 if a.paper == "seed000" else seed004)(out, a.quick)
    path = out / f"{a.paper}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"tables: {path}; plots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
