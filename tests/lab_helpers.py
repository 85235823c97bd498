"""The real PostgreSQL that .ci/run starts (.ci/pg.sh): a fresh database per test, dropped after it."""

import json
import os
import sqlite3
import subprocess
import time
import uuid

import numpy as np
import psycopg
import pytest
from daemon_helpers import free_port

from simhw.control.lab.replicator import lab_json
from simhw.values.bench_config import BenchConfig
from simhw.values.records import REPLICATED

DSN = os.environ.get("SIMHW_LAB_DSN", "")
TABLES = {r.table: r for r in REPLICATED}  # every replicated table, compared column by column


@pytest.fixture
def lab_dsn():
    if not DSN:
        if os.environ.get("CI"):
            pytest.fail("SIMHW_LAB_DSN is not set: .ci/run starts PostgreSQL for these tests")
        pytest.skip('no PostgreSQL: run `eval "$(.ci/pg.sh start)"` first')
    name = f"lab_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    dsn = DSN.rsplit("/", 1)[0] + "/" + name
    yield dsn
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_restart(mode: str = "immediate") -> None:
    """Restart the test PostgreSQL (``immediate``: as a crash, no clean shutdown)."""
    data, pgbin = os.environ["SIMHW_TEST_PG_DATA"], os.environ["SIMHW_TEST_PG_BIN"]
    log = os.path.join(os.path.dirname(data), "log")  # the server keeps no pipe of ours open
    cmd = [f"{pgbin}/pg_ctl", "-D", data, "-m", mode, "-l", log, "-w", "restart"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def store_head(store_path) -> int:
    """The newest outbox entry of a bench's store (read-only, beside the daemon that writes it)."""
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as sq:
        return sq.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]


def lab_cursor(dsn: str, bench: str) -> int | None:
    """How far the lab has acknowledged ``bench``'s outbox (None: the bench is not in the lab yet)."""
    with psycopg.connect(dsn, connect_timeout=2) as c:
        row = c.execute("SELECT replicated_seq FROM benches WHERE name = %s", (bench,)).fetchone()
    return None if row is None else row[0]


def wait_replicated(dsn: str, bench: str, store_path, timeout: float = 60.0) -> None:
    """Until the lab's cursor for ``bench`` reaches the store's newest outbox entry."""
    deadline = time.monotonic() + timeout
    head = -1
    while time.monotonic() < deadline:
        head = store_head(store_path)
        try:
            cursor = lab_cursor(dsn, bench)
            if cursor is not None and cursor >= head:
                return
        except psycopg.Error:  # down, or not migrated yet by the replicator
            pass
        time.sleep(0.1)
    raise AssertionError(f"bench {bench!r} not replicated within {timeout} s (store outbox head {head})")


def _norm(v):
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, bool):
        return int(v)
    return v


def assert_lab_equals_store(dsn: str, bench: str, store_path) -> dict:
    """Every local record is in the lab once, field for field and array blob byte for byte; returns counts."""
    counts = {}
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as sq, psycopg.connect(dsn) as pg:
        for table, rec in TABLES.items():
            local_rows = sq.execute(f"SELECT {', '.join(rec.names)} FROM {table} ORDER BY {rec.key}").fetchall()
            lab_rows = pg.execute(
                f"SELECT {', '.join(c.lab for c in rec.lab_own())} FROM {table} WHERE bench = %s "
                f"ORDER BY {rec.lab_key[1]}",
                (bench,),
            ).fetchall()
            assert len(lab_rows) == len(local_rows), (table, len(lab_rows), len(local_rows))
            for a, b in zip(local_rows, lab_rows):
                for column, x, y in zip(rec.columns, a, b):
                    if column.type == "json" and x is not None:
                        x = json.loads(lab_json(x))
                    assert _norm(x) == _norm(y), (table, a[0], column.name, x if not isinstance(x, bytes) else len(x))
            counts[table] = len(local_rows)
    return counts


def blobs_equal(a, b) -> bool:
    return np.array_equal(a, b) and a.dtype == b.dtype


def lab_bench(tmp_path, name: str, dsn: str) -> BenchConfig:
    cfg = BenchConfig(name=name)
    cfg.sweep.points = 3
    cfg.daemon.bind = [f"tcp://127.0.0.1:{free_port()}"]
    cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
    cfg.daemon.store = str(tmp_path / f"{name}.sqlite")
    cfg.calibration.parameterization = "physical"
    cfg.calibration.stages, cfg.calibration.slots, cfg.calibration.heldout = 1, 30, 10
    cfg.lab.dsn, cfg.lab.retry_s = dsn, 0.2
    return cfg
