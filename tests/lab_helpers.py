"""The real PostgreSQL that .ci/run starts (.ci/pg.sh): a fresh database per test, dropped after it."""

import os
import sqlite3
import subprocess
import time
import uuid

import numpy as np
import psycopg
import pytest

from simhw.control.lab.replicator import lab_json

DSN = os.environ.get("SIMHW_LAB_DSN", "")
TABLES = {  # lab table -> (local table, local key, the columns compared)
    "configs": ("configs", "hash", "hash, name, bits, shape, codes, metadata, first_seen"),
    "snapshots": ("snapshots", "id", "id, bench, software, created_at"),
    "pushes": ("pushes", "id", "id, hash, client, request_id, applied, acked_at"),
    "measurements": ("measurements", "id", "id, hash, snapshot, params, frequencies, s, shape, created_at, flag, "
                     "settings"),
    "calibrations": ("calibrations", "id", "id, protocol, reason, params, status, stages, metrics, model, snapshot, "
                     "started_at, finished_at"),
    "events": ("events", "id", "id, t, kind, data"),
    "tags": ("tags", "id", "id, kind, target, tag, operator, t"),
}
JSON_COLUMNS = {"measurements": {"params", "settings"}, "calibrations": {"params", "stages", "metrics"},
                "events": {"data"}}
LAB_COLUMNS = {"configs": "hash, name, bits, shape, codes, metadata, first_seen",
               "snapshots": "local_id, bench_file, software, created_at",
               "pushes": "local_id, hash, client, request_id, applied, acked_at",
               "measurements": "local_id, hash, snapshot, params, frequencies, s, shape, created_at, flag, settings",
               "calibrations": "local_id, protocol, reason, params, status, stages, metrics, model, snapshot, "
                               "started_at, finished_at",
               "events": "local_id, t, kind, data", "tags": "local_id, kind, target, tag, operator, t"}


@pytest.fixture
def lab_dsn():
    if not DSN:
        if os.environ.get("CI"):
            pytest.fail("SIMHW_LAB_DSN is not set: .ci/run starts PostgreSQL for these tests")
        pytest.skip("no PostgreSQL: run `eval \"$(.ci/pg.sh start)\"` first")
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
    if isinstance(v, (dict, list)):
        return v
    return v


def assert_lab_equals_store(dsn: str, bench: str, store_path) -> dict:
    """Every local record is in the lab once, field for field and array blob byte for byte; returns counts."""
    import json

    counts = {}
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as sq, psycopg.connect(dsn) as pg:
        for lab_table, (local, key, cols) in TABLES.items():
            local_rows = sq.execute(f"SELECT {cols} FROM {local} ORDER BY {key}").fetchall()
            lab_key = "hash" if key == "hash" else "local_id"
            lab_rows = pg.execute(f"SELECT {LAB_COLUMNS[lab_table]} FROM {lab_table} WHERE bench = %s "
                                  f"ORDER BY {lab_key}", (bench,)).fetchall()
            assert len(lab_rows) == len(local_rows), (lab_table, len(lab_rows), len(local_rows))
            names = [c.strip() for c in LAB_COLUMNS[lab_table].split(",")]
            for a, b in zip(local_rows, lab_rows):
                for name, x, y in zip(names, a, b):
                    if name in JSON_COLUMNS.get(lab_table, ()) and x is not None:
                        x = json.loads(lab_json(x))
                    assert _norm(x) == _norm(y), (lab_table, a[0], x if not isinstance(x, bytes) else len(x))
            counts[lab_table] = len(local_rows)
    return counts


def blobs_equal(a, b) -> bool:
    return np.array_equal(a, b) and a.dtype == b.dtype
