"""``simhw train <objective>``: train a phase configuration, write the PhaseConfig file and a report.

    simhw train separation --out out/sep [--n-side 8 --layers 5 --users 4 --jamming-aware --bits 6]
    simhw train isac --out out/isac [--sensing-weight 0.5]
    simhw train focus --bench bench.toml [--model calibrated.npz] [--port 0] [--null] --out out/focus
    simhw train hil [--bench bench.toml] [--band sweep] --out out/hil  # train on ideal/calibrated/truth, push, measure
    simhw train reproduce seed000|seed001|seed003|seed004 --out out/repro [--quick]

Every objective writes ``config.json`` (the PhaseConfig file ``simhw push`` takes, except for
``hil`` and ``reproduce``), ``report.json`` (metrics before and after quantization, options,
timing) and plots. Focus configurations are checked against the bench geometry: a model of
another SIM is refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from simhw.app.hil import BANDS, DEFAULT_BAND, check_model_fits, hil_check, write_report
from simhw.designs.multiport.reproduce import main as reproduce_mp
from simhw.designs.spacetime.reproduce import main as reproduce_st
from simhw.designs.training import plots
from simhw.designs.training.focus import Focus
from simhw.designs.training.objectives import TrainingError
from simhw.designs.training.reproduce import main as reproduce
from simhw.designs.training.scenarios import isac_scenario, separation_scenario
from simhw.designs.training.trainer import TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig

__all__ = ["add_arguments", "run_from_args", "OBJECTIVES"]

OBJECTIVES = ("separation", "isac", "focus", "hil", "reproduce")


def add_arguments(p) -> None:
    p.add_argument("objective", choices=OBJECTIVES, metavar="objective", help="what to train: " + ", ".join(OBJECTIVES))
    p.add_argument(
        "paper",
        nargs="?",
        choices=("seed000", "seed001", "seed003", "seed004"),
        metavar="paper",
        help="reproduce: which paper's trends (seed000, seed001, seed003, seed004)",
    )
    p.add_argument("--out", default="out/train", help="directory for config.json, report.json and plots")
    p.add_argument("--episodes", type=int, default=None, help="training episodes (iterations for DNGD)")
    p.add_argument("--starts", type=int, default=None, help="random starts (the best is kept)")
    p.add_argument("--bits", type=int, default=None, help="quantize to this many bits (focus: the board's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    g = p.add_argument_group("separation")
    g.add_argument("--n-side", type=int, default=8, help="atoms per row and column (N = n^2)")
    g.add_argument("--layers", type=int, default=5)
    g.add_argument("--users", type=int, default=4)
    g.add_argument("--bs-antennas", type=int, default=None, help="M (default 2K); K of them are used")
    g.add_argument("--jamming-aware", action="store_true", help="train with the reactive jammer in the pilots")
    g = p.add_argument_group("isac")
    g.add_argument("--sensing-weight", type=float, default=0.5, help="w_s; the communication weight is 1 - w_s")
    g = p.add_argument_group("focus and hil")
    g.add_argument("--bench", help="bench description (TOML); default: the embedded simulated bench")
    g.add_argument("--model", help="calibrated model (.npz) to train on instead of the ideal geometry")
    g.add_argument("--port", type=int, default=0, help="receive port to focus on")
    g.add_argument("--null", action="store_true", help="focus: also put nulls on the other receive ports")
    g.add_argument(
        "--band",
        choices=BANDS,
        default=DEFAULT_BAND,
        help="hil: where the objective is trained and measured: 'carrier' (the default), the sweep point nearest "
        "geometry.frequency; 'sweep', the power averaged over the sweep",
    )
    g.add_argument("--quick", action="store_true", help="reproduce: fewer draws and episodes")


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet, self.last = quiet, -1

    def __call__(self, ev: dict) -> None:
        if self.quiet or ev["kind"] != "episode":
            return
        done, total = ev["episode"], ev["episodes"]
        pct = int(100 * done / total)
        live = sys.stderr.isatty()
        step = 10 if live else 50
        if pct != self.last and (pct % step == 0 or done == total):
            self.last = pct
            line = f"start {ev['start'] + 1}: episode {done}/{total} loss {ev['loss']:.4g}"
            if live:
                print("\r" + line.ljust(60), end="\n" if done == total else "", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)


def _write(out: Path, result, config, extra: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if config is not None:
        config.save(out / "config.json")
    (out / "report.json").write_text(json.dumps({**result.summary(), **extra}, indent=2, default=float))


def _separation(a, out: Path, progress) -> dict:
    sc = separation_scenario(
        n_side=a.n_side,
        layers=a.layers,
        users=a.users,
        bs_antennas=a.bs_antennas,
        seed=a.seed,
        jamming_aware=a.jamming_aware,
    )
    opts = TrainOptions(
        episodes=a.episodes or 1000, eta0=0.8, beta=0.995, step="raw", starts=a.starts or 1, seed=a.seed, bits=a.bits
    )
    r = train(sc.objective, opts, progress)
    cfg = r.config((a.n_side, a.n_side), name="separation")
    y = sc.objective.received(r.theta)[0]
    plots.plot_constellation({"trained": y * np.sqrt(a.users) / np.linalg.norm(y, axis=0)}, out / "constellation.png")
    plots.plot_losses({"loss": r.history}, out / "loss.png")
    _write(out, r, cfg, {"scenario": sc.objective.describe()})
    return r.final_metrics


def _isac(a, out: Path, progress) -> dict:
    ws = a.sensing_weight
    if not 0 <= ws <= 1:
        raise TrainingError("--sensing-weight must be in [0, 1]")
    sc = isac_scenario(seed=a.seed, weights=(ws, 1 - ws))
    opts = TrainOptions(
        method="dngd",
        episodes=a.episodes or 60,
        eta0=0.5,
        beta=0.95,
        starts=a.starts or 5,
        tol=1e-4,
        weights=(ws, 1 - ws),
        seed=a.seed,
        bits=a.bits,
    )
    r = train(sc.objective, opts, progress)
    n_side = sc.geometry.rows
    cfg = r.config((n_side, n_side), name=f"isac-ws{ws:g}")
    plots.plot_beam_pattern(
        sc.objective.pattern(r.theta),
        sc.grid_shape,
        *sc.grid,
        out / "beam_pattern.png",
        targets=sc.targets,
        users=list(zip(*sc.user_angles)),
    )
    plots.plot_losses({"weighted objective": r.history}, out / "loss.png", log=False)
    _write(out, r, cfg, {"scenario": sc.objective.describe()})
    return r.final_metrics


def _bench_config(a):
    return BenchConfig.load(a.bench) if a.bench else BenchConfig(name="simulated")


def _focus(a, out: Path, progress) -> dict:
    cfg = _bench_config(a)
    g = cfg.geometry
    levels = None
    if a.model:
        cal = CalibratedModel.load(a.model)
        model, levels = cal.model(), cal.atom_response
        info = type("Info", (), {"layers": g.layers, "rows": g.rows, "cols": g.cols})
        check_model_fits(model.n_layers, model.n_atoms, info)
    else:
        model = SIMModel.from_geometry(g.build(cfg.frequencies()))
    suppress = tuple(p for p in range(model.n_outputs) if p != a.port) if a.null else ()
    obj = Focus(model, output=a.port, suppress=suppress, atom_response=levels)
    opts = TrainOptions(
        episodes=a.episodes or 200,
        eta0=0.5,
        beta=0.99,
        update="joint",
        starts=a.starts or 8,
        seed=a.seed,
        bits=a.bits or g.bits,
    )
    r = train(obj, opts, progress)
    config = r.config((g.rows, g.cols), name=f"focus-port{a.port}")
    plots.plot_losses({"loss": r.history}, out / "loss.png", ylabel="-objective (dB)", log=False)
    _write(out, r, config, {"model": a.model or "ideal geometry"})
    return r.final_metrics


def _hil(a, out: Path) -> dict:
    report = hil_check(
        _bench_config(a) if a.bench else None,
        port=a.port,
        episodes=a.episodes or 200,
        starts=a.starts or 8,
        seed=a.seed,
        progress=None if a.quiet else print,
        band=a.band,
    )
    write_report(report, out)
    plots.plot_hil(report, out / "hil.png")
    print(report.table())
    return report.to_dict()


def run_from_args(a) -> int:
    out = Path(a.out)
    progress = _Progress(a.quiet)
    try:
        if a.objective == "reproduce":
            if a.paper is None:
                raise TrainingError("reproduce needs a paper: seed000, seed001, seed003 or seed004")
            quick = ["--quick"] if a.quick else []
            if a.paper == "seed001":
                return reproduce_st(["--out", str(out)] + quick)
            if a.paper == "seed003":
                return reproduce_mp(["--out", str(out)] + quick)
            return reproduce([a.paper, "--out", str(out)] + quick)
        if a.paper is not None:
            raise TrainingError(f"{a.objective} takes no paper argument")
        if a.objective == "hil":
            _hil(a, out)
            return 0
        metrics = {"separation": _separation, "isac": _isac, "focus": _focus}[a.objective](a, out, progress)
    except TrainingError as e:
        print(f"simhw train: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items()}, default=float))
    print(f"wrote {out / 'config.json'} and {out / 'report.json'}")
    return 0
