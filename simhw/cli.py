"""The ``simhw`` command line."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simhw", description="Hardware-in-the-loop control and calibration "
                                     "for stacked intelligent metasurfaces.")
    parser.add_argument("--version", action="version", version=f"simhw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cfg = sub.add_parser("config", help="inspect or create phase-configuration files")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = cfg_sub.add_parser("show", help="print a phase-configuration file's summary and hash")
    show.add_argument("path")
    rnd = cfg_sub.add_parser("random", help="write a random phase configuration")
    rnd.add_argument("path")
    rnd.add_argument("--layers", type=int, required=True)
    rnd.add_argument("--rows", type=int, required=True)
    rnd.add_argument("--cols", type=int, required=True)
    rnd.add_argument("--bits", type=int, default=1)
    rnd.add_argument("--seed", type=int, default=None)
    rnd.add_argument("--name", default="random")
    sim = sub.add_parser("sim", help="the simulated bench")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    up = sim_sub.add_parser("up", help="start the simulated SIM, board(s) and VNA; print their addresses; "
                            "run until interrupted (Ctrl-C or SIGTERM)")
    up.add_argument("--bench", help="bench description (TOML); defaults to a 4-layer 6x6 2-bit SIM")
    up.add_argument("--write-bench", metavar="PATH",
                    help="write the bench description with the simulated devices' addresses filled in")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    cal = sub.add_parser("calibrate", help="calibrate the SIM (bench, simulated bench or recording); store the "
                         "versioned model")
    from calibration.command import add_arguments

    add_arguments(cal)
    return parser


def _cmd_calibrate(args) -> int:
    from calibration.command import run_from_args

    return run_from_args(args)


def _cmd_sim(args) -> int:
    import signal
    import threading

    from sim_backend.bench import SimBench

    from .bench_config import BenchConfig

    cfg = BenchConfig.load(args.bench) if args.bench else BenchConfig(name="simulated")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimBench(cfg) as bench:
        for i, url in enumerate(bench.board_urls):
            print(f"board[{i}] {cfg.board.protocol}: {url}")
        print(f"vna {cfg.vna.family}: {bench.vna_resource}")
        if args.write_bench:
            with open(args.write_bench, "w") as fh:
                fh.write(bench.resolved_config().to_toml())
            print(f"bench file: {args.write_bench}")
        print("ready", flush=True)
        try:
            stop.wait(args.duration)
        except KeyboardInterrupt:
            pass
    print("stopped", flush=True)
    return 0


def _cmd_config(args) -> int:
    from .phase_config import PhaseConfig

    if args.config_command == "show":
        cfg = PhaseConfig.load(args.path)
        print(f"name:       {cfg.name}")
        print(f"shape:      {cfg.shape[0]} layers x {cfg.shape[1]} rows x {cfg.shape[2]} cols, {cfg.bits} bit(s)")
        print(f"objective:  {cfg.objective}")
        print(f"model_id:   {cfg.model_id}")
        print(f"created_at: {cfg.created_at}")
        print(f"hash:       {cfg.hash}")
        return 0
    cfg = PhaseConfig.random(args.layers, args.rows, args.cols, args.bits, seed=args.seed, name=args.name)
    print(cfg.save(args.path))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return {"config": _cmd_config, "sim": _cmd_sim, "calibrate": _cmd_calibrate}[args.command](args)
    except (ValueError, OSError) as exc:
        print(f"simhw: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
