"""Seed 003's case study on the multiport model: linear vs nonlinear cells, one command.

    python -m simhw.designs.multiport.reproduce --out out/seed003 [--quick]

Trains the near-field localization mapping (:func:`localization_scenario`) with linear cells and
with Rapp limiting cells, from the same starting phases, and reports the transfer-function
matching error, the bin accuracy on the training sources and on fresh test sources, the mean
localization error (bin centre vs true position), and the fixed-point solver's iterations.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from simhw.designs.multiport.localization import localization_scenario, localize
from simhw.designs.training import TrainOptions, train


def run(out: Path, quick: bool = False, say=print) -> dict:
    sc = localization_scenario(seed=0)
    test = localization_scenario(seed=1)  # same geometry, fresh source positions
    opts = TrainOptions(episodes=80 if quick else 300, eta0=0.5, beta=0.99, update="joint", starts=1, seed=0)
    rows = {}
    histories = {}
    for name, obj in (("linear", sc.linear), ("nonlinear", sc.nonlinear)):
        r = train(obj, opts)
        x_test = sc.make_excitations(test.positions)
        est = localize(obj, r.theta, x_test, sc.centres)
        y = obj.model.outputs(r.theta, x_test)
        rows[name] = {
            **{k: float(v) for k, v in r.metrics.items()},
            "test_bin_accuracy": float(np.mean(np.argmax(np.abs(y), axis=0) == test.bins)),
            "test_mean_error_cm": float(100 * np.mean(np.linalg.norm(est - test.positions, axis=1))),
            "seconds": r.seconds,
            "fixed_point_iterations": None if obj.model.last_report is None else obj.model.last_report.iterations,
        }
        histories[name] = r.history
        m = rows[name]
        say(
            f"{name:<9} matching error {m['matching_error_db']:6.2f} dB (loss {m['loss']:.3f}), bin accuracy "
            f"{m['bin_accuracy']:.2f} train / {m['test_bin_accuracy']:.2f} test, mean localization error "
            f"{m['test_mean_error_cm']:.2f} cm, {m['seconds']:.1f} s"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, h in histories.items():
        ax.plot(h, label=f"{k} cells")
    ax.set_xlabel("episode")
    ax.set_ylabel("matching loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "seed003_matching.png", dpi=110)
    plt.close(fig)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="linear vs nonlinear cells on near-field localization ([4] SIM in the nonlinear regime, sec. V)"
    )
    ap.add_argument("--out", default="out/seed003")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run(out, a.quick)
    (out / "seed003.json").write_text(json.dumps(rows, indent=2))
    print(f"table: {out / 'seed003.json'}; plot: {out / 'seed003_matching.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
