"""Replication to the lab PostgreSQL against the daemon's own push rate, in one run.

    python -m benchmarks.lab [--n 20000] [--dsn postgresql://...]   (default: $SIMHW_LAB_DSN)

A ``simhw daemon`` process on the simulated bench (board in the daemon's process) takes pipelined
pushes of distinct configurations (256 in flight) from one client, twice: without ``[lab]`` (the
daemon's sustained push rate) and with replication to a fresh lab database. Each push of a new
configuration commits two records (the configuration and the push). Printed: both push rates and
their ratio (replication must not slow acknowledgements), the replication throughput in records/s
while it follows the pushes, its capacity (the first run's store, shipped from scratch as a
backlog; target: keeping up with 5,000 pushes/s, 10,000 records/s here), and the lag
from a push's acknowledgement to its arrival in the lab (``arrived_at``), p50 and p99.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

from benchmarks.daemon import free_port, process
from simhw.control.client import DaemonClient
from simhw.control.lab.replicator import Replicator
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

TARGET_PUSHES_S = 5000.0


def run_pushes(tmp: Path, name: str, n: int, dsn: str = "") -> dict:
    cfg = BenchConfig(name=name)
    cfg.simulation.transport = "inproc"
    cfg.daemon.bind = [f"tcp://127.0.0.1:{free_port()}"]
    cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
    cfg.daemon.store = str(tmp / f"{name}.sqlite")
    cfg.lab.dsn, cfg.lab.batch = dsn, 5000
    (tmp / f"{name}.toml").write_text(cfg.to_toml())
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(n)]
    out: dict = {}
    with (
        process(["-m", "simhw", "daemon", "--bench", str(tmp / f"{name}.toml")]),
        DaemonClient(cfg.daemon.bind[0], timeout=60) as c,
    ):
        c.push(PhaseConfig.random(4, 6, 6, 2, seed=n + 1))
        t0 = time.perf_counter()
        acks = c.push_many(configs, window=256)
        out["push_rate"] = len(acks) / (time.perf_counter() - t0)
        out["pushed_at"] = time.time()
        if dsn:
            with sqlite3.connect(f"file:{cfg.daemon.store}?mode=ro", uri=True) as sq:
                head = sq.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
            deadline = time.monotonic() + 600
            with psycopg.connect(dsn, autocommit=True) as pg:
                while time.monotonic() < deadline:
                    row = pg.execute("SELECT replicated_seq FROM benches WHERE name = %s", (name,)).fetchone()
                    if row and row[0] >= head:
                        break
                    time.sleep(0.05)
                out["caught_up_at"] = time.time()
                out["records"] = head
                out["status"] = c.status()["lab"]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dsn", default=os.environ.get("SIMHW_LAB_DSN", ""))
    a = ap.parse_args(argv)
    if not a.dsn:
        raise SystemExit('give --dsn or set SIMHW_LAB_DSN (eval "$(bash .ci/pg.sh start)")')
    db = f"lab_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(a.dsn, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {db}")
    dsn = a.dsn.rsplit("/", 1)[0] + "/" + db
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            plain = run_pushes(tmp, "plain", a.n)
            lab = run_pushes(tmp, "replicated", a.n, dsn)
            backlog = Replicator(str(tmp / "plain.sqlite"), dsn, "backlog", batch=5000)
            t0 = time.perf_counter()
            shipped = 0
            while (k := backlog.step()) > 0:
                shipped += k
            capacity = shipped / (time.perf_counter() - t0)
            backlog.close()
        with psycopg.connect(dsn) as pg:
            lags = np.array(
                [
                    r[0]
                    for r in pg.execute(
                        "SELECT arrived_at - acked_at FROM pushes WHERE bench = 'replicated'"
                    ).fetchall()
                ]
            )
            first = pg.execute("SELECT min(acked_at) FROM pushes WHERE bench = 'replicated'").fetchone()[0]
        ship = lab["status"]
        span = lab["caught_up_at"] - first
        print(
            f"daemon push rate (pipelined, 256 in flight, {a.n} distinct configs): {plain['push_rate']:.0f}/s "
            f"without [lab], {lab['push_rate']:.0f}/s with replication (ratio {lab['push_rate'] / plain['push_rate']:.2f})"
        )
        print(
            f"replication: {lab['records']} records ({lab['records'] / max(a.n, 1):.1f} per push) in {span:.2f} s from "
            f"the first commit to the lab caught up: {lab['records'] / span:.0f} records/s "
            f"({lab['records'] / span / 2:.0f} pushes/s; target {TARGET_PUSHES_S:.0f}), "
            f"{lab['caught_up_at'] - lab['pushed_at']:.2f} s behind the last acknowledgement"
        )
        print(
            f"replication capacity (a backlog of {shipped} records shipped from scratch): {capacity:.0f} records/s "
            f"= {capacity / 2:.0f} pushes/s of new configurations (target {TARGET_PUSHES_S:.0f}, ratio "
            f"{capacity / 2 / TARGET_PUSHES_S:.2f})"
        )
        print(
            f"lag from commit to the lab, per record: p50 {np.percentile(lags, 50) * 1e3:.0f} ms, "
            f"p99 {np.percentile(lags, 99) * 1e3:.0f} ms (replicator errors: {ship['errors']})"
        )
    finally:
        with psycopg.connect(a.dsn, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()
