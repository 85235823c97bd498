"""``simhw lab``: the lab database (PostgreSQL) every bench replicates to, its queries and exports, and
the controller that addresses the lab's benches by name (docs/lab.md).

    simhw lab init --dsn postgresql://simhw@db.lab/simhw
    simhw lab register bench-3 --endpoint tcp://10.0.0.3:5555 --publish tcp://10.0.0.3:5556 [--key bench3.key]
    simhw lab benches
    simhw lab query measurement --bench bench-3 --since 2026-11-01 [--config HASH] [--tag golden] \\
                    [--export out/ --format touchstone|netcdf|csv|mat]
    simhw lab residuals [--bench bench-3] [--since ...]
    simhw lab status                      # every bench's daemon, through the registry
    simhw lab run calibrate --benches bench-1,bench-3 [--stages 3 --slots 60]
    simhw lab replicate --bench bench.toml [--once]   # a store whose daemon runs without [lab]

``--dsn`` defaults to $SIMHW_LAB_DSN.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from simhw.control.lab.controller import LabController
from simhw.control.lab.exports import calibration_dataset, measurements_dataset, to_csv, to_netcdf, to_touchstone
from simhw.control.lab.lab_store import KINDS, LabStore, dumps
from simhw.control.lab.replicator import Replicator
from simhw.integrations.lab_export import mat_export
from simhw.values.bench_config import BenchConfig

__all__ = ["add_arguments", "run_from_args", "parse_time"]


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch from a number or an ISO date/time (UTC when no zone is given)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (seconds since the epoch, or an ISO date like 2026-11-01)") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def add_arguments(p) -> None:
    p.add_argument(
        "--dsn",
        default=os.environ.get("SIMHW_LAB_DSN", ""),
        help="the lab database (libpq URI or key=value string; default $SIMHW_LAB_DSN)",
    )
    dsn = argparse.ArgumentParser(add_help=False)  # --dsn is taken after the action too
    dsn.add_argument("--dsn", default=argparse.SUPPRESS, help="the lab database (default $SIMHW_LAB_DSN)")
    actions = p.add_subparsers(dest="lab_command", required=True)

    def action(name: str, **kw):
        return actions.add_parser(name, parents=[dsn], **kw)

    action("init", help="create or migrate the lab schema")
    reg = action("register", help="add a bench to the lab's registry (or update it)")
    reg.add_argument("name")
    reg.add_argument("--endpoint", action="append", required=True, help="the daemon's request endpoint(s)")
    reg.add_argument("--publish", default="", help="its telemetry endpoint")
    reg.add_argument("--key", action="append", default=[], help="a public key file of the daemon (CURVE)")
    action("benches", help="the benches in the registry and their replication cursors")
    q = action("query", help="records of one kind across benches, newest first")
    q.add_argument("kind", choices=sorted(KINDS), metavar="kind", help="one of " + ", ".join(sorted(KINDS)))
    q.add_argument("--bench")
    q.add_argument("--config", help="a configuration's hash")
    q.add_argument("--since", help="seconds since the epoch or an ISO date/time")
    q.add_argument("--until")
    q.add_argument("--tag")
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--export", help="write the records to this directory")
    q.add_argument("--format", default="json", choices=("json", "csv", "netcdf", "touchstone", "mat"))
    r = action("residuals", help="every bench's held-out prediction residual over time")
    r.add_argument("--bench")
    r.add_argument("--since")
    r.add_argument("--until")
    action("status", help="every registered bench's daemon status")
    run = action("run", help="run a job on several benches and collect the results")
    run.add_argument("job", choices=("calibrate",), metavar="job", help="the job: calibrate")
    run.add_argument("--benches", help="comma-separated names (default: every bench)")
    run.add_argument("--stages", type=int)
    run.add_argument("--slots", type=int)
    run.add_argument("--timeout", type=float, default=1800.0)
    rep = action("replicate", help="replicate a bench store to the lab (for a daemon without [lab])")
    rep.add_argument("--bench", required=True, help="the bench file (its [daemon] store and [lab] section)")
    rep.add_argument("--once", action="store_true", help="ship what is there and exit")
    rep.add_argument("--duration", type=float, default=None, help="stop after this many seconds")


def _export(recs: list, kind: str, fmt: str, out: Path) -> list[str]:
    """Write the export; a failed one leaves no folder it created behind."""
    if not recs:
        raise ValueError(f"no {kind} records match: nothing exported")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write(recs, kind, fmt, out)
    except BaseException:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write(recs: list, kind: str, fmt: str, out: Path) -> list[str]:
    if fmt == "csv":
        return [to_csv(recs, out / f"{kind}s.csv")]
    if fmt == "json":
        path = out / f"{kind}s.jsonl"
        path.write_text("".join(dumps(r) + "\n" for r in recs))
        return [str(path)]
    if fmt == "mat":
        return mat_export(recs, kind, out)
    if fmt == "touchstone":
        if kind != "measurement":
            raise ValueError("Touchstone is for measurements")
        return [to_touchstone(r, out / f"{r['bench']}-m{r['id']}") for r in recs]
    if kind == "measurement":
        return [to_netcdf(measurements_dataset(recs), out / "measurements.nc")]
    if kind == "calibration":
        return [to_netcdf(calibration_dataset(r), out / f"{r['bench']}-cal{r['id']}.nc") for r in recs]
    raise ValueError("NetCDF exports are for measurements and calibrations")


def run_from_args(a) -> int:
    if not a.dsn:
        print("simhw lab: give --dsn or set SIMHW_LAB_DSN", file=sys.stderr)
        return 2
    if a.lab_command == "replicate":
        return _replicate(a)
    if a.lab_command in ("status", "run"):
        with LabController(a.dsn, timeout=30) as lab:
            if a.lab_command == "status":
                result = lab.status()
            else:
                params = {k: v for k, v in (("stages", a.stages), ("slots", a.slots)) if v is not None}
                result = lab.run(a.benches.split(",") if a.benches else None, job=a.job, wait=a.timeout, **params)
        print(json.dumps(result, indent=2, default=str))
        return 0 if all(r["ok"] for r in result.values()) else 1
    with LabStore(a.dsn) as lab:
        if a.lab_command == "init":
            print(json.dumps(lab.describe()))
        elif a.lab_command == "register":
            lab.register(
                a.name,
                {"bind": a.endpoint, "publish": a.publish},
                [Path(k).read_text() for k in a.key] if a.key else None,
            )
            print(f"registered {a.name}: {a.endpoint}")
        elif a.lab_command == "benches":
            for b in lab.benches():
                when = "never" if b["replicated_at"] is None else f"{time.time() - b['replicated_at']:.0f} s ago"
                print(
                    f"{b['name']:<16} {','.join(b['endpoints'].get('bind', [])):<40} replicated to "
                    f"{b['replicated_seq']} ({when})"
                )
        elif a.lab_command == "residuals":
            for row in lab.residual_history(a.bench, parse_time(a.since), parse_time(a.until)):
                print(json.dumps(row))
        else:
            recs = lab.query(a.kind, a.bench, a.config, parse_time(a.since), parse_time(a.until), a.tag, a.limit)
            if a.export:
                for path in _export(recs, a.kind, a.format, Path(a.export)):
                    print(path)
            else:
                for r in recs:
                    print(dumps({k: v for k, v in r.items() if k not in ("s", "frequencies", "codes", "model")}))
    return 0


def _replicate(a) -> int:
    cfg = BenchConfig.load(a.bench)
    rep = Replicator(
        cfg.daemon.store, a.dsn or cfg.lab.dsn, cfg.lab.bench_id or cfg.name, cfg.lab.batch, cfg.lab.retry_s
    )
    if a.once:
        n = 0
        while (k := rep.step()) > 0:
            n += k
        rep.close()
        print(f"shipped {n} records; cursor {rep.cursor}")
        return 0
    rep.start()
    try:
        end = None if a.duration is None else time.monotonic() + a.duration
        while end is None or time.monotonic() < end:
            time.sleep(1.0)
            print(json.dumps(rep.status()), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        rep.stop()
    return 0
