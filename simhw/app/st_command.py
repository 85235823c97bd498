"""``simhw st``: randomised space-time SIM on the bench and the study of [2] Randomized space-time SIM.

simhw st session --config base.json --slots 10000 --rate 1000 [--layer 0 --seed 1]   # through the daemon
simhw st reproduce --out out/seed001 [--quick]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from drivers import smp
from simhw.control.client import DaemonClient, DaemonError
from simhw.designs.spacetime.reproduce import main as reproduce_st
from simhw.values.phase_config import PhaseConfig

__all__ = ["add_arguments", "run_from_args"]


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="st_command", metavar="ACTION", required=True)
    s = sub.add_parser("session", help="run N slots of a randomised layer at the slot rate on the bench (daemon)")
    s.add_argument("--config", required=True, help="base phase-configuration file (the space-only layers)")
    s.add_argument("--layer", type=int, default=0, help="the layer re-drawn every slot")
    s.add_argument("--seed", type=int, default=1, help="seed of the generator the board and host share")
    s.add_argument("--slots", type=int, default=10_000)
    s.add_argument("--rate", type=float, default=1000.0, help="slots per second (at least)")
    s.add_argument("--frequency", type=float, default=None, help="CW frequency (Hz); default: mid-sweep")
    s.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="daemon request endpoint")
    s.add_argument("--timeout", type=float, default=120.0)
    s.add_argument("--out", help="write the per-slot responses and slot codes here (.npz)")
    r = sub.add_parser(
        "reproduce",
        help="the synthesis, sum-rate and fairness study of [2] Randomized space-time SIM (tables and plots)",
    )
    r.add_argument("--out", default="out/seed001")
    r.add_argument("--quick", action="store_true")


def run_from_args(a) -> int:
    if a.st_command == "reproduce":
        return reproduce_st(["--out", a.out] + (["--quick"] if a.quick else []))

    base = PhaseConfig.load(a.config)
    try:
        with DaemonClient(a.endpoint, timeout=a.timeout) as c:
            y, meta = c.st_session(base, a.layer, a.seed, a.slots, a.rate, a.frequency)
    except DaemonError as e:
        print(f"simhw st: daemon error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(meta, default=float))
    if a.out:
        codes = smp.random_sequence_patterns(base.codes, a.layer, a.seed, np.arange(a.slots), base.bits)
        np.savez_compressed(
            a.out, responses=y, codes=codes, **{k: v for k, v in meta.items() if isinstance(v, (int, float))}
        )
        print(f"wrote {a.out}")
    return 0 if meta.get("missed", 1) == 0 else 1
