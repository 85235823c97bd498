"""Reproduce [2] Randomized space-time SIM's trends: DAL-aided synthesis, ST-SIM sum rate and fairness.

    python -m simhw.designs.spacetime.reproduce --out out/seed001 [--quick]
    simhw st reproduce --out out/seed001 [--quick]

(1) Synthesis error ||G - U||_F^2 toward a 9 x 9 Haar target against the number of PC layers
    (2 AC layers first), for the baseline SIM (N = M = 9) and DAL-aided SIMs (N = 25, 49), with
    the power gain ||G||^2/||U||^2 and PGD convergence curves.
(2) Randomised ST-SIM downlink (M = 4 streams from a 2 x 2 UPA, N = 36, Q = 16, 6 PC + 2 AC
    layers synthesised toward a Haar target): time-averaged and effective sum rate, Jain's
    fairness and distinct users served per coherence interval against the number of users K, for
    T = 4, 8, 16 slots per interval, next to the full-CSIT 16-antenna zero-forcing benchmark.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from simhw.designs.spacetime.scheduling import Downlink, STDownlink, mimo_benchmark, simulate_st
from simhw.designs.spacetime.synthesis import dal_block, haar_target, synthesize


def _plot_lines(x, series: dict, xlabel: str, ylabel: str, path: Path, log: bool = False, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, ys, style) in series.items():
        ax.plot(xs, ys, style, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def synthesis_study(out: Path, quick: bool, say=print) -> list:
    pcs = (4, 8) if quick else (4, 6, 8, 10, 12, 14)
    iterations = 100 if quick else 200
    target = haar_target(9, 9, seed=0)
    rows, curves = [], {}
    for n_side in (3, 5, 7):
        errs = []
        for n_pc in pcs:
            r = synthesize(dal_block(3, n_side, n_pc), target, iterations=iterations)
            rows.append(
                {
                    "N": n_side**2,
                    "pc_layers": n_pc,
                    "error": r.error,
                    "power_gain": r.power_gain,
                    "iterations": r.iterations,
                }
            )
            errs.append(r.error)
            if n_pc == 8 or (quick and n_pc == pcs[-1]):
                curves[f"N = {n_side**2}" + (" (baseline)" if n_side == 3 else "")] = r.history
        say(
            f"N = {n_side**2:2d}{' (baseline)' if n_side == 3 else '           '}: error "
            + "  ".join(f"L_pc={p}: {e:.2e}" for p, e in zip(pcs, errs))
        )
    series = {
        f"N = {n}" + (" (baseline)" if n == 9 else ""): (list(pcs), [r["error"] for r in rows if r["N"] == n], "o-")
        for n in (9, 25, 49)
    }
    _plot_lines(
        None,
        series,
        "PC layers",
        "||G - U||_F^2",
        out / "seed001_synthesis_error.png",
        log=True,
        title="M = 9, Haar target, 2 AC layers",
    )
    _plot_lines(
        None,
        {k: (np.arange(len(v)), np.maximum(v, 1e-16), "-") for k, v in curves.items()},
        "PGD iteration",
        "||G - U||_F^2",
        out / "seed001_convergence.png",
        log=True,
    )
    return rows


def downlink_study(out: Path, quick: bool, say=print) -> dict:
    users = (10, 100, 500, 1000, 1500) if quick else (10, 50, 100, 200, 500, 800, 1000, 1100, 1200, 1300, 1500, 2000)
    slots = (4, 8, 16)
    intervals = 5 if quick else 20
    block = dal_block(2, 6, 6, q_side=4)
    synth = synthesize(block, haar_target(16, 4, seed=1), iterations=150)
    tx = STDownlink(block, synth.d, 2)
    link = Downlink()
    st = {t: [simulate_st(tx, link, k, t, intervals, seed=k) for k in users] for t in slots}
    mimo = [mimo_benchmark(16, 4, link, k, intervals, seed=k) for k in users]
    for i, k in enumerate(users):
        say(
            f"K = {k:4d}: "
            + "  ".join(f"T={t}: {st[t][i]['effective_sum_rate']:5.2f} (J {st[t][i]['fairness']:.3f})" for t in slots)
            + f"  | full-CSIT MIMO {mimo[i]['effective_sum_rate']:5.2f} (J {mimo[i]['fairness']:.3f})"
        )
    crossing = {}
    for t in slots:
        above = [k for i, k in enumerate(users) if st[t][i]["effective_sum_rate"] > mimo[i]["effective_sum_rate"]]
        crossing[t] = min(above) if above else None
    say("ST-SIM above the full-CSIT benchmark from K = " + ", ".join(f"{crossing[t]} (T={t})" for t in slots))
    series = {f"ST-SIM T = {t}": (users, [r["effective_sum_rate"] for r in st[t]], "o-") for t in slots}
    series["full-CSIT MIMO"] = (users, [r["effective_sum_rate"] for r in mimo], "ks--")
    _plot_lines(None, series, "users K", "effective sum rate (bit/s/Hz)", out / "seed001_sum_rate.png")
    series = {f"ST-SIM T = {t}": (users, [r["fairness"] for r in st[t]], "o-") for t in slots}
    series["full-CSIT MIMO"] = (users, [r["fairness"] for r in mimo], "ks--")
    _plot_lines(None, series, "users K", "Jain's fairness index", out / "seed001_fairness.png", log=True)
    return {
        "users": list(users),
        "st": {str(t): st[t] for t in slots},
        "mimo": mimo,
        "crossing": {str(t): crossing[t] for t in slots},
        "synthesis_error": synth.error,
        "link": link.__dict__,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="reproduce [2] Randomized space-time SIM's trends (tables and plots)")
    ap.add_argument("--out", default="out/seed001")
    ap.add_argument("--quick", action="store_true", help="fewer layers, users and intervals")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"synthesis": synthesis_study(out, a.quick), "downlink": downlink_study(out, a.quick)}
    (out / "seed001.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"tables: {out / 'seed001.json'}; plots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
