"""Ship a bench store's outbox to the lab PostgreSQL, in commit order, exactly once.

The bench store's triggers append every committed record to ``outbox`` inside the writing
transaction (migration 0005). The replicator reads the outbox through its own read-only SQLite
connection (WAL: it never takes the daemon's lock, so an acknowledgement never waits for it), and
copies each batch into PostgreSQL in one transaction that also moves the bench's cursor
(``benches.replicated_seq``). A batch is in the lab with its cursor, or neither: after a crash of
either side, or a dropped network, the next batch starts after the last committed one, and the
tables' (bench, local id) keys make a re-shipped record a no-op (calibrations, which change state,
are updated to their latest row).
"""

from __future__ import annotations

import collections
import contextlib
import json
import multiprocessing
import os
import sqlite3
import threading
import time
from typing import Any

import psycopg
import zmq.auth

from simhw.control.lab.schema import atomic, migrate
from simhw.values.records import REPLICATED, Column, Record

__all__ = ["Replicator", "ReplicatorProcess", "daemon_replicator", "register_bench", "lab_json"]


def _read(rec: Record) -> str:
    """The bench store's read of a batch of ``rec`` records by key (the ``{}`` takes the placeholders)."""
    return f"SELECT {', '.join(rec.names)} FROM {rec.table} WHERE {rec.key} IN ({{}})"


def _write(rec: Record) -> str:
    """The lab's write of ``rec`` records: a record shipped again is a no-op, unless it changed since
    (its ``updated`` columns: the lab keeps its latest row)."""
    cols = [c.lab for c in rec.lab_columns() if c.name != "arrived_at"]
    sql = f"INSERT INTO {rec.table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) ON CONFLICT "
    if not rec.updated:
        return sql + "DO NOTHING"
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*rec.updated, "seq"))
    return sql + f"({', '.join(rec.lab_key)}) DO UPDATE SET {sets} WHERE {rec.table}.seq < EXCLUDED.seq"


def _lab_value(column: Column, value):
    """A bench store's value as the lab takes it."""
    if column.type == "json":
        return lab_json(value)
    if column.type == "bool":
        return bool(value)
    return value


_SHIPPING = {rec.kind: (rec, _read(rec), _write(rec)) for rec in REPLICATED}


def register_bench(conn, name: str, endpoints: dict | None = None, public_keys: list | None = None) -> None:
    """Add ``name`` to the lab's registry, or update its endpoints and keys (given ones only)."""
    conn.execute(
        "INSERT INTO benches (name, endpoints, public_keys, registered_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET endpoints = CASE WHEN %s THEN EXCLUDED.endpoints ELSE "
        "benches.endpoints END, public_keys = CASE WHEN %s THEN EXCLUDED.public_keys ELSE "
        "benches.public_keys END",
        (
            name,
            json.dumps(endpoints or {}),
            json.dumps(public_keys or []),
            time.time(),
            endpoints is not None,
            public_keys is not None,
        ),
    )


def _finite(obj):
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def lab_json(text: str | None) -> str | None:
    """A stored JSON text as the lab keeps it: JSON has no NaN or infinity, so those become null."""
    if text is None:
        return None
    try:
        json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        return text
    except ValueError:
        return json.dumps(_finite(json.loads(text)))


class Replicator:
    """Replication of one bench store (``store_path``) to the lab database at ``dsn`` as bench ``bench``.

    :meth:`step` ships one batch and returns how many records it shipped; :meth:`start` runs steps in
    a thread until :meth:`stop`, reconnecting after ``retry_s`` whenever the lab database is down.
    """

    def __init__(
        self,
        store_path: str,
        dsn: str,
        bench: str,
        batch: int = 1000,
        retry_s: float = 2.0,
        endpoints: dict | None = None,
        public_keys: list | None = None,
        idle_s: float = 0.05,
    ):
        self.store_path, self.dsn, self.bench = str(store_path), dsn, bench
        self.batch, self.retry_s, self.idle_s = int(batch), float(retry_s), float(idle_s)
        self.endpoints, self.public_keys = endpoints, public_keys
        self._pg = None
        self._sq = None
        self.cursor: int | None = None
        self.shipped = 0
        self.errors = 0
        self.last_error: str = ""
        self.connected = False
        self.lags: collections.deque[float] = collections.deque(
            maxlen=100_000
        )  # seconds from commit to shipped, per record
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ connections
    def _sqlite(self):
        if self._sq is None:
            self._sq = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        return self._sq

    def _connect(self):
        if self._pg is None or self._pg.closed:
            self._pg = psycopg.connect(self.dsn, connect_timeout=5, autocommit=True)
            migrate(self._pg)
            with atomic(self._pg):
                register_bench(self._pg, self.bench, self.endpoints, self.public_keys)
            row = self._pg.execute("SELECT replicated_seq FROM benches WHERE name = %s", (self.bench,)).fetchone()
            self.cursor = int(row[0])
            self.connected = True
        return self._pg

    def close(self) -> None:
        for c in (self._pg, self._sq):
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        self._pg = self._sq = None
        self.connected = False

    # ------------------------------------------------------------------ one batch
    def step(self) -> int:
        """Ship the next batch of the outbox (at most ``batch`` records); 0 when there is nothing new."""
        pg = self._connect()
        sq = self._sqlite()
        rows = sq.execute(
            "SELECT seq, kind, local_id, key, t FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.cursor, self.batch),
        ).fetchall()
        if not rows:
            return 0
        by_kind: dict = collections.defaultdict(list)
        for seq, kind, local_id, key, _t in rows:
            by_kind[kind].append((seq, local_id if key is None else key))
        params: dict = {}
        for kind, items in by_kind.items():
            seqs = {ident: seq for seq, ident in items}  # the latest seq per record
            ids = list(seqs)
            rec, read, write = _SHIPPING[kind]
            recs = sq.execute(read.format(",".join("?" * len(ids))), ids).fetchall()
            params[write] = [
                (self.bench, *(_lab_value(c, v) for c, v in zip(rec.columns, r)), seqs[r[0]]) for r in recs
            ]
        last = rows[-1][0]
        with atomic(pg):
            with pg.cursor() as cur:
                for _, _, write in _SHIPPING.values():  # referenced rows first
                    if params.get(write):
                        cur.executemany(write, params[write])
            moved = pg.execute(
                "UPDATE benches SET replicated_seq = %s, replicated_at = %s WHERE name = %s AND replicated_seq = %s",
                (last, time.time(), self.bench, self.cursor),
            ).rowcount
            if moved != 1:
                raise RuntimeError(f"bench {self.bench!r}: another replicator moved the lab cursor; stopping")
        now = time.time()
        self.lags.extend(now - r[4] for r in rows)
        self.cursor = last
        self.shipped += len(rows)
        return len(rows)

    # ------------------------------------------------------------------ the thread
    def start(self) -> Replicator:
        self._thread = threading.Thread(target=self._run, name=f"lab-replicator-{self.bench}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self.run(self._stop.is_set, self._stop.wait)

    def run(self, stopped, wait, publish=None) -> None:
        """Ship until ``stopped()``; ``wait(seconds)`` pauses; ``publish(self)`` after every step."""
        while not stopped():
            try:
                if self.step() == 0:
                    wait(self.idle_s)
            except (psycopg.Error, OSError) as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.close()
                wait(self.retry_s)
            except sqlite3.Error as exc:
                self.errors += 1
                self.last_error = f"store: {exc}"[:300]
                self._sq = None
                wait(self.retry_s)
            if publish is not None:
                publish(self)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def status(self, head: int | None = None) -> dict:
        """Replication figures for ``simhw status`` and telemetry (``head``: the store's newest outbox seq)."""
        out = {
            "bench": self.bench,
            "connected": self.connected,
            "shipped": self.shipped,
            "cursor": self.cursor,
            "errors": self.errors,
            "last_error": self.last_error,
        }
        if head is not None and self.cursor is not None:
            out["lag_records"] = max(head - self.cursor, 0)
        if self.lags:
            out["last_lag_s"] = self.lags[-1]
        return out


class ReplicatorProcess:
    """A :class:`Replicator` in a process of its own, so shipping never takes the daemon's interpreter
    (an acknowledgement never waits for it). It exits when stopped or when its parent dies (a daemon
    killed with SIGKILL takes its replicator with it); :meth:`status` reads its figures from shared memory."""

    _FIELDS = ("shipped", "cursor", "errors", "connected", "last_lag_s")

    def __init__(
        self,
        store_path: str,
        dsn: str,
        bench: str,
        batch: int = 1000,
        retry_s: float = 2.0,
        endpoints: dict | None = None,
        public_keys: list | None = None,
        idle_s: float = 0.05,
    ):
        self.bench = bench
        self.kwargs = dict(
            store_path=str(store_path),
            dsn=dsn,
            bench=bench,
            batch=batch,
            retry_s=retry_s,
            endpoints=endpoints,
            public_keys=public_keys,
            idle_s=idle_s,
        )
        self._ctx = multiprocessing.get_context("spawn")
        self._shared = self._ctx.Array("d", [0.0, -1.0, 0.0, 0.0, -1.0])
        self._error: Any = self._ctx.Array("c", 300)  # a char array: its .value reads up to the first NUL
        self._stop = self._ctx.Event()
        self._proc: multiprocessing.process.BaseProcess | None = None

    def start(self) -> ReplicatorProcess:
        proc = self._ctx.Process(
            target=_replicate_child,
            name=f"simhw-lab-{self.bench}",
            daemon=True,
            args=(self.kwargs, self._shared, self._error, self._stop, os.getpid()),
        )
        proc.start()
        self._proc = proc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def status(self, head: int | None = None) -> dict:
        v = dict(zip(self._FIELDS, self._shared[:]))
        cursor = None if v["cursor"] < 0 else int(v["cursor"])
        out = {
            "bench": self.bench,
            "connected": bool(v["connected"]),
            "shipped": int(v["shipped"]),
            "cursor": cursor,
            "errors": int(v["errors"]),
            "last_error": self._error.value.decode(errors="replace"),
            "process_alive": self.alive,
        }
        if head is not None and cursor is not None:
            out["lag_records"] = max(head - cursor, 0)
        if v["last_lag_s"] >= 0:
            out["last_lag_s"] = v["last_lag_s"]
        return out


def daemon_replicator(config, store_path: str, curve: tuple | None) -> ReplicatorProcess | None:
    """The replicator a daemon starts for its bench file's ``[lab]`` (None without a dsn or a file store):
    registered with the daemon's endpoints and, with CURVE, its public key."""
    lab = config.lab
    if not lab.dsn or store_path == ":memory:":
        return None
    keys = [] if curve is None else [zmq.auth.load_certificate(curve[0])[0].decode()]
    endpoints = {"bind": list(config.daemon.bind), "publish": config.daemon.publish}
    return ReplicatorProcess(
        store_path, lab.dsn, lab.bench_id or config.name, lab.batch, lab.retry_s, endpoints, keys
    ).start()


def _replicate_child(kwargs: dict, shared, error, stop, parent: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(10)  # where cores are few, the daemon's loop comes first
    rep = Replicator(**kwargs)

    def publish(r: Replicator) -> None:
        shared[:] = [
            r.shipped,
            -1 if r.cursor is None else r.cursor,
            r.errors,
            float(r.connected),
            r.lags[-1] if r.lags else -1.0,
        ]
        error.value = r.last_error.encode()[:299]

    try:
        rep.run(lambda: stop.is_set() or os.getppid() != parent, stop.wait, publish)
    finally:
        rep.close()
