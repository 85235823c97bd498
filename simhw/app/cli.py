"""The ``simhw`` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

import numpy as np
import zmq.auth

from sim_backend.bench import SimBench
from simhw.app import calibrate_command, demo, gateware_command, lab_command, soak, st_command, train_command
from simhw.app.dashboard import command as dashboard_command
from simhw.app.embedded import run_daemon, setup_logging
from simhw.control.client import DaemonBatchError, DaemonClient, DaemonError
from simhw.control.telemetry import StateWatcher
from simhw.integrations import matlab
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig
from simhw.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simhw", description="Hardware-in-the-loop control and calibration for stacked intelligent metasurfaces."
    )
    parser.add_argument("--version", action="version", version=f"simhw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cfg = sub.add_parser("config", help="inspect or create phase-configuration files")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = cfg_sub.add_parser(
        "show", help="print a phase-configuration file's summary and hash (.mat: of each configuration in it)"
    )
    show.add_argument("path")
    rnd = cfg_sub.add_parser(
        "random",
        help="write a random phase configuration and print its hash (a path ending .mat, in any case: a MATLAB file)",
    )
    rnd.add_argument("path")
    rnd.add_argument("--layers", type=int, required=True)
    rnd.add_argument("--rows", type=int, required=True)
    rnd.add_argument("--cols", type=int, required=True)
    rnd.add_argument("--bits", type=int, default=1)
    rnd.add_argument("--seed", type=int, default=None)
    rnd.add_argument("--name", default="random")
    sim = sub.add_parser("sim", help="the simulated bench")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    up = sim_sub.add_parser(
        "up",
        help="start the simulated SIM, board(s) and VNA; print their addresses; "
        "run until interrupted (Ctrl-C or SIGTERM)",
    )
    up.add_argument("--bench", help="bench description (TOML); defaults to a 4-layer 6x6 2-bit SIM")
    up.add_argument(
        "--write-bench",
        metavar="PATH",
        help="write the bench description with the simulated devices' addresses filled in",
    )
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    dmn = sub.add_parser("daemon", help="run the bench daemon (owns the board and VNA; ZeroMQ requests and telemetry)")
    dmn.add_argument("--bench", help="bench description (TOML); default: the embedded simulated bench")
    dmn.add_argument("--bind", action="append", help="request endpoint(s), overriding daemon.bind")
    dmn.add_argument("--publish", help="telemetry endpoint, overriding daemon.publish")
    dmn.add_argument("--store", help="SQLite store path, overriding daemon.store")
    dmn.add_argument("--http", help="also serve the live dashboard on HOST:PORT (e.g. 127.0.0.1:8080)")
    dash = sub.add_parser(
        "dashboard", help="the live bench dashboard (HTTP and WebSocket gateway to a daemon), or a bearer token for it"
    )
    dashboard_command.add_arguments(dash)
    for name, helptext in (
        ("push", "push a phase-configuration file to the bench (acknowledged after readback)"),
        ("measure", "measure the current configuration (optionally push one first)"),
        ("status", "print the daemon's status"),
        ("watch", "print the daemon's full state, then its telemetry; resynchronise after losing it"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="daemon request endpoint")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
        p.add_argument("--server-key", help="daemon public key file (CURVE)")
        p.add_argument("--client-key", help="this client's secret key file (CURVE)")
        if name == "push":
            p.add_argument("config", help="phase-configuration file (.mat: every configuration in it, in order)")
        if name == "status":
            p.add_argument(
                "--board",
                action="store_true",
                help="the board's live STATUS (read from the board now) instead of the daemon's",
            )
        if name == "measure":
            p.add_argument("--config", help="push this phase-configuration file first")
            p.add_argument("--touchstone", help="also write the measurement as a Touchstone file")
            p.add_argument("--mat", help="also write the measurement as a MATLAB file (.mat)")
        if name == "watch":
            p.add_argument("--publish", default="tcp://127.0.0.1:5556", help="daemon telemetry endpoint")
            p.add_argument("--count", type=int, default=None, help="stop after this many messages")
            p.add_argument("--duration", type=float, default=float("inf"), help="stop after this many seconds")
            p.add_argument(
                "--lost-after",
                type=float,
                default=3.0,
                help="seconds without a heartbeat before the daemon counts as lost",
            )
            p.add_argument(
                "--topic",
                action="append",
                default=None,
                help="only these topics (the state and loss notices are always printed)",
            )
    cal = sub.add_parser(
        "calibrate", help="calibrate the SIM (bench, simulated bench or recording); store the versioned model"
    )
    calibrate_command.add_arguments(cal)
    trn = sub.add_parser(
        "train",
        help="train a phase configuration (separation, isac, focus), run the "
        "hardware-in-the-loop check (hil) or reproduce a paper's trends",
    )
    train_command.add_arguments(trn)
    keys = sub.add_parser("keys", help="create a CURVE key pair (daemon or client) for encrypted, authenticated links")
    keys.add_argument("name", help="key name: NAME.key (public) and NAME.key_secret (secret) are written")
    keys.add_argument("--dir", default="keys", help="directory for the key files")
    sk = sub.add_parser(
        "soak",
        help="run the daemon and the simulated bench under faults in every layer, then "
        "audit the store (zero lost or wrong records)",
    )
    sk.add_argument("--minutes", type=float, default=None, help="run this long (overrides --seconds)")
    sk.add_argument("--seconds", type=float, default=60.0)
    sk.add_argument("--out", default="out/soak", help="working directory: store, bench files, daemon.log")
    sk.add_argument("--seed", type=int, default=0)
    sk.add_argument("--intense", action="store_true", help="twelve times the fault rates (for short runs)")
    dm = sub.add_parser(
        "demo",
        help="the whole loop on the embedded simulated bench: measure, calibrate, train, "
        "push, verify, drift, recalibrate; writes an HTML report",
    )
    dm.add_argument("--out", default="out/demo", help="directory for report.html, report.json and the plots")
    dm.add_argument("--quick", action="store_true", help="fewer slots and episodes (about a minute)")
    dm.add_argument("--quiet", action="store_true", help="no progress output")
    dm.add_argument(
        "--bench",
        default="realistic",
        choices=("realistic", "ideal"),
        help="the simulated bench preset (default: realistic)",
    )
    lab = sub.add_parser("lab", help="the lab database (PostgreSQL): init, registry, queries, exports, many benches")
    lab_command.add_arguments(lab)
    st = sub.add_parser(
        "st", help="randomised space-time SIM: slot-rate sessions on the bench, the study of docs/physics.md, sec. 4.3"
    )
    st_command.add_arguments(st)
    gw = sub.add_parser("gateware", help="the SMP board's gateware (Amaranth): Verilog and a synthesis estimate")
    gateware_command.add_arguments(gw)
    return parser


def _cmd_daemon(args) -> int:
    cfg = BenchConfig.load(args.bench) if args.bench else BenchConfig(name="simulated")
    if args.bind:
        cfg.daemon.bind = list(args.bind)
    if args.publish:
        cfg.daemon.publish = args.publish
    if args.store:
        cfg.daemon.store = args.store
    setup_logging()
    curve = None
    if cfg.daemon.keys or cfg.daemon.server_key:
        curve = (cfg.daemon.server_key, cfg.daemon.keys)

    gateway = []

    def ready():
        if args.http:
            try:
                gateway.append(dashboard_command.gateway_for(cfg, args.http).start())
            except (OSError, RuntimeError, ValueError) as e:
                print(f"simhw daemon: the dashboard did not start on {args.http}: {e}", file=sys.stderr, flush=True)
        extra = f" dashboard={gateway[0].url}" if gateway else ""
        print(
            f"ready requests={','.join(cfg.daemon.bind)} telemetry={cfg.daemon.publish} store={cfg.daemon.store}"
            f"{extra}",
            flush=True,
        )

    try:
        return run_daemon(cfg, curve, on_ready=ready)
    finally:
        for g in gateway:
            g.stop()


def _client(args):
    curve = (args.server_key, args.client_key) if args.server_key else None
    return DaemonClient(args.endpoint, timeout=args.timeout, curve=curve)


def _print_acks(acks) -> None:
    for ack in acks:
        print(f"acknowledged {ack['hash']} ({'applied' if ack['applied'] else 'already shown'}), push #{ack['push']}")


def _cmd_client(args) -> int:
    try:
        if args.command == "watch":
            curve = (args.server_key, args.client_key) if args.server_key else None
            watcher = StateWatcher(args.endpoint, args.publish, lost_after=args.lost_after, curve=curve)
            shown = 0
            for kind, data in watcher.follow(args.duration):
                if args.topic and kind not in args.topic and kind not in ("state", "lost"):
                    continue
                print(kind, json.dumps(data, default=str), flush=True)
                shown += 1
                if args.count is not None and shown >= args.count:
                    break
            return 0 if watcher.state is not None else 1
        with _client(args) as c:
            if args.command == "status":
                print(json.dumps(c.board_status() if args.board else c.status(), indent=2, default=str))
            elif args.command == "push":
                try:
                    acks = c.push_many(load_configs(args.config))  # pipelined, acknowledged in order
                except DaemonBatchError as e:  # say what was acknowledged before the error
                    _print_acks(a for a in e.acks if a is not None)
                    raise
                _print_acks(acks)
            elif args.command == "measure":
                for out in (args.mat, args.touchstone):  # refused before the bench is swept, not after
                    if out:
                        matlab.check_output(out)
                m = c.push_measure(load_config(args.config)) if args.config else c.measure()
                print(f"measurement #{m.id} of {m.config_hash}: {m.frequencies.size} points, {m.s.shape[1]} port(s)")
                for fi, row in zip(m.frequencies, m.s):
                    print(
                        f"{fi / 1e9:.6f} GHz  "
                        + "  ".join(f"{abs(v):.4e} {np.angle(v, deg=True):+8.2f}deg" for v in row)
                    )
                if args.touchstone:
                    print(f"touchstone: {m.to_touchstone(args.touchstone)}")
                if args.mat:
                    print(f"mat: {matlab.save_measurement(args.mat, m, m.push)}")
        return 0
    except DaemonError as e:
        print(f"simhw: daemon error: {e}", file=sys.stderr)
        return 3


def _cmd_keys(args) -> int:
    os.makedirs(args.dir, exist_ok=True)
    public, secret = zmq.auth.create_certificates(args.dir, args.name)
    os.chmod(secret, 0o600)
    print(f"public: {public}\nsecret: {secret}")
    return 0


def _cmd_soak(args) -> int:
    argv = ["--seconds", str(args.seconds), "--out", args.out, "--seed", str(args.seed)]
    if args.minutes is not None:
        argv += ["--minutes", str(args.minutes)]
    return soak.main(argv + (["--intense"] if args.intense else []))


def _cmd_demo(args) -> int:
    return demo.main(
        ["--out", args.out, "--bench", args.bench]
        + (["--quick"] if args.quick else [])
        + (["--quiet"] if args.quiet else [])
    )


def _cmd_st(args) -> int:
    return st_command.run_from_args(args)


def _cmd_train(args) -> int:
    return train_command.run_from_args(args)


def _cmd_calibrate(args) -> int:
    return calibrate_command.run_from_args(args)


def _cmd_sim(args) -> int:

    cfg = BenchConfig.load(args.bench) if args.bench else BenchConfig(name="simulated")
    if cfg.simulation.transport == "inproc":
        print(
            "simhw sim up: simulation.transport = 'inproc' serves only the process that starts the bench; "
            "use 'pty' or 'tcp' here, or run 'simhw daemon --bench' on this file (it embeds the bench)",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimBench(cfg) as bench:
        for i, url in enumerate(bench.board_urls):
            print(f"board[{i}] {cfg.board.protocol}: {url}")
        print(f"vna {cfg.vna.family} {bench.vna.model.name}: {bench.vna_resource}")
        for kind, resource in bench.vna_resources().items():
            print(f"vna {kind}: {resource}")
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


def load_configs(path: str) -> list[PhaseConfig]:
    """The configurations of a phase-configuration file, or of a MATLAB file (.mat, simhw.integrations.matlab)."""
    return matlab.read_configs(path) if matlab.is_mat(path) else [PhaseConfig.load(path)]


def load_config(path: str) -> PhaseConfig:
    configs = load_configs(path)
    if len(configs) != 1:
        raise ValueError(f"{path} holds {len(configs)} configurations: give a file with one")
    return configs[0]


def _cmd_config(args) -> int:
    if args.config_command == "show":
        for cfg in load_configs(args.path):
            print(f"name:       {cfg.name}")
            print(f"shape:      {cfg.shape[0]} layers x {cfg.shape[1]} rows x {cfg.shape[2]} cols, {cfg.bits} bit(s)")
            print(f"objective:  {cfg.objective}")
            print(f"model_id:   {cfg.model_id}")
            print(f"created_at: {cfg.created_at}")
            print(f"hash:       {cfg.hash}")
        return 0
    cfg = PhaseConfig.random(args.layers, args.rows, args.cols, args.bits, seed=args.seed, name=args.name)
    if matlab.is_mat(args.path):
        matlab.write_configs(args.path, [cfg])
    else:
        cfg.save(args.path)
    print(cfg.hash)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return {
            "config": _cmd_config,
            "sim": _cmd_sim,
            "calibrate": _cmd_calibrate,
            "daemon": _cmd_daemon,
            "push": _cmd_client,
            "measure": _cmd_client,
            "status": _cmd_client,
            "watch": _cmd_client,
            "train": _cmd_train,
            "st": _cmd_st,
            "demo": _cmd_demo,
            "keys": _cmd_keys,
            "soak": _cmd_soak,
            "lab": lab_command.run_from_args,
            "dashboard": dashboard_command.run_from_args,
            "gateware": gateware_command.run_from_args,
        }[args.command](args)
    except (ValueError, OSError) as exc:
        print(f"simhw: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
