"""The bench's local result store: SQLite in WAL mode, schema versions and migrations.

Tables: ``configs`` (by content hash, codes as a blob, metadata), ``pushes`` (every acknowledged
push: config, client request id, time), ``measurements`` (frequencies and S-parameters as blobs,
linked to the config shown and a bench snapshot), ``snapshots`` (bench description and software
version), ``calibrations`` (protocol, parameters, per-stage metrics, the resulting model as .npz
bytes, status), ``events``, and ``state`` (key/value: the scheduler's last runs, for resuming).

Every write is one transaction. With ``durability="process"`` (the default, ``synchronous=NORMAL``
in WAL mode) a committed record is in the WAL file before the method returns, so it survives the
process being killed, and commits cost no fsync; ``durability="power"`` (``synchronous=FULL``)
fsyncs every commit so a record also survives power loss or an OS crash. One connection per store
object, guarded by a lock, so the daemon's threads can share it.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["Store", "StoreError", "StoreFull", "SCHEMA_VERSION", "TAGGABLE", "NAME_TAG"]

NAME_TAG = "name:"  # a configuration's tag recording a further name it was stored under
TAGGABLE = ("config", "push", "measurement", "calibration", "event", "snapshot")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")  # 0001.sql, 0002.sql, ...: one file per schema version


def _migrations() -> dict[int, str]:
    files = {int(p.stem): p.read_text() for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9].sql")}
    if sorted(files) != list(range(1, len(files) + 1)):
        raise RuntimeError(f"migrations in {MIGRATIONS_DIR} are not numbered 1..N: {sorted(files)}")
    return files


def _statements(script: str) -> list[str]:
    """The statements of a migration, split where SQLite says one is complete (a trigger's body holds ';')."""
    out, buf = [], ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf)
            buf = ""
    if buf.strip(" \n;"):
        raise RuntimeError(f"incomplete statement at the end of a migration: {buf[:80]!r}")
    return out


MIGRATIONS = _migrations()
SCHEMA_VERSION = max(MIGRATIONS)


class StoreError(RuntimeError):
    pass


def _blob(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


_npy_heads: dict = {}


def _codes_blob(codes: np.ndarray) -> bytes:
    """A config's codes as .npy bytes (what :func:`_blob` writes), with the header made once per shape."""
    head = _npy_heads.get(codes.shape)
    if head is None:
        head = _npy_heads[codes.shape] = _blob(np.zeros(codes.shape, np.uint16))[:-2 * codes.size]
    return head + np.ascontiguousarray(codes, dtype="<u2").tobytes()


def _unblob(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


class StoreFull(RuntimeError):
    """The disk (or the configured size cap) is full; the write was rolled back entirely."""


class Store:
    def __init__(self, path: str | Path, durability: str = "process", max_mb: float = 0.0):
        """``max_mb`` > 0 caps the database's size; a write past it raises :class:`StoreFull`, as a
        full disk does."""
        if durability not in ("process", "power"):
            raise ValueError("durability must be 'process' or 'power'")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=" + ("FULL" if durability == "power" else "NORMAL"))
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        if max_mb > 0:
            page = self._one("PRAGMA page_size")[0]
            self.db.execute(f"PRAGMA max_page_count={max(int(max_mb * 2**20 / page), 1)}")

    # ------------------------------------------------------------------ schema
    def _migrate(self) -> None:
        with self._lock:
            version = self._one("PRAGMA user_version")[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema {version}, newer than this simhw's {SCHEMA_VERSION}")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in _statements(MIGRATIONS[v]):
                        self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version={v}")
                    self.db.execute("COMMIT")
                except Exception:
                    self.db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._one("PRAGMA user_version")[0]

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _one(self, sql: str, args=()):
        """One row of a read, under the writer's lock: a reader never sees a row a writer then rolls back."""
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    def _all(self, sql: str, args=()) -> list:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _tx(self, fn):
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self.db)
                self.db.execute("COMMIT")
                return out
            except Exception as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
                    raise StoreFull(f"the store {self.path} is full (disk, or daemon.store_max_mb): nothing of this "
                                    "write was kept") from None
                raise

    # ------------------------------------------------------------------ configs and pushes
    def _put_config(self, db, config: PhaseConfig, text: str | None = None) -> None:
        """``text``: the config's file line as received (PhaseConfig.to_bytes), saves encoding it again.
        A pattern is kept once, under the name it first came with; a later name is recorded as a
        ``name:<name>`` tag on it, once per name, so :meth:`config_named` finds it by every name."""
        now = time.time()
        if db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (config.hash, config.name, config.bits, json.dumps(list(config.shape)),
                       _codes_blob(config.codes), text or config.to_bytes().decode(), now)).rowcount or not config.name:
            return
        tag = NAME_TAG + config.name
        if db.execute("SELECT 1 FROM configs WHERE hash = ? AND name = ? UNION ALL SELECT 1 FROM tags WHERE kind = "
                      "'config' AND target = ? AND tag = ? LIMIT 1", (config.hash, config.name, config.hash,
                                                                      tag)).fetchone() is None:
            self._insert_tag(db, "config", config.hash, tag, None, now)

    def put_config(self, config: PhaseConfig) -> str:
        self._tx(lambda db: self._put_config(db, config))
        return config.hash

    def record_pushes(self, pushes: list) -> list[int]:
        """Record many acknowledged pushes [(config, client, request_id, applied[, text]), ...] in one
        transaction; ``text`` is the config's file line as received, if at hand."""
        def fn(db):
            ids = []
            for config, client, rid, applied, *text in pushes:
                self._put_config(db, config, *text)
                ids.append(db.execute("INSERT INTO pushes (hash, client, request_id, applied, acked_at) "
                                      "VALUES (?, ?, ?, ?, ?)", (config.hash, client, rid, int(applied),
                                                                time.time())).lastrowid)
            return ids

        return self._tx(fn)

    def get_config(self, hash_: str) -> PhaseConfig:
        row = self._one("SELECT metadata FROM configs WHERE hash = ?", (hash_,))
        if row is None:
            raise KeyError(hash_)
        return PhaseConfig.from_bytes(row[0].encode())

    def config_named(self, name: str) -> str | None:
        """The hash of the configuration that most recently came with ``name`` for the first time (as its
        first name, or a later one: :meth:`_put_config`), or None. A pattern pushed again under a name it
        already has does not take the name back from a newer pattern."""
        row = self._one("SELECT hash, first_seen FROM configs WHERE name = ? UNION ALL SELECT target, t FROM tags "
                        "WHERE kind = 'config' AND tag = ? ORDER BY 2 DESC LIMIT 1", (name, NAME_TAG + name))
        return None if row is None else row[0]

    def _newest(self, sql: str, key: str, limit: int | None, before: int | None, where: str = "", args=()) -> list:
        """Rows of ``sql`` newest first by ``key``, older than ``before`` (a listing's page cursor), at most ``limit``."""
        conds = [c for c in (where, f"{key} < ?" if before is not None else "") if c]
        q = sql + (" WHERE " + " AND ".join(conds) if conds else "") + f" ORDER BY {key} DESC"
        args = (*args, *(() if before is None else (int(before),)))
        return self._all(q + (" LIMIT ?" if limit is not None else ""), (*args, *(() if limit is None else (int(limit),))))

    def list_configs(self, limit: int = 100, before: int | None = None) -> list[dict]:
        """The newest configurations first; ``seq`` orders them (first seen) and is a listing's page cursor."""
        rows = self._newest("SELECT rowid, hash, name, bits, shape, first_seen FROM configs", "rowid", limit, before)
        return [{"seq": q, "hash": h, "name": n, "bits": b, "shape": json.loads(s), "first_seen": t}
                for q, h, n, b, s, t in rows]

    def pushes(self, limit: int | None = None, before: int | None = None) -> list[dict]:
        """The last ``limit`` acknowledged pushes (all if None) older than ``before``, oldest first."""
        rows = self._newest("SELECT id, hash, client, request_id, applied, acked_at FROM pushes", "id", limit,
                            before)[::-1]
        return [{"id": i, "hash": h, "client": c, "request_id": r, "applied": bool(a), "acked_at": t}
                for i, h, c, r, a, t in rows]

    def last_push(self) -> dict | None:
        row = self._one("SELECT id, hash FROM pushes ORDER BY id DESC LIMIT 1")
        return None if row is None else {"id": row[0], "hash": row[1]}

    def count(self, table: str) -> int:
        if table not in ("configs", "pushes", "measurements", "calibrations", "events", "snapshots"):
            raise ValueError(table)
        return self._one(f"SELECT COUNT(*) FROM {table}")[0]

    # ------------------------------------------------------------------ snapshots and measurements
    def snapshot(self, bench_toml: str, software: str) -> int:
        def fn(db):
            row = db.execute("SELECT id FROM snapshots WHERE bench = ? AND software = ? ORDER BY id DESC LIMIT 1",
                             (bench_toml, software)).fetchone()
            if row:
                return row[0]
            return db.execute("INSERT INTO snapshots (bench, software, created_at) VALUES (?, ?, ?)",
                              (bench_toml, software, time.time())).lastrowid

        return self._tx(fn)

    def get_snapshot(self, sid: int) -> dict:
        row = self._one("SELECT bench, software, created_at FROM snapshots WHERE id = ?", (sid,))
        if row is None:
            raise KeyError(sid)
        return {"id": sid, "bench": row[0], "software": row[1], "created_at": row[2]}

    def put_measurement(self, m: Measurement) -> int:
        """Store ``m`` (its label, flag, parameters, arrays, instrument settings, snapshot and time); returns its id."""
        s = np.asarray(m.s)
        return self._tx(lambda db: db.execute(
            "INSERT INTO measurements (hash, snapshot, params, frequencies, s, shape, created_at, flag, settings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (m.config_hash, m.snapshot, json.dumps(list(m.params)),
                                                   _blob(np.asarray(m.frequencies)), _blob(s),
                                                   json.dumps(list(s.shape)), m.created_at, m.flag,
                                                   json.dumps(m.settings))).lastrowid)

    def get_measurement(self, mid: int) -> dict:
        row = self._one("SELECT hash, snapshot, params, frequencies, s, created_at, flag, settings FROM measurements "
                        "WHERE id = ?", (mid,))
        if row is None:
            raise KeyError(mid)
        return {"id": mid, "hash": row[0], "snapshot": row[1], "params": json.loads(row[2]),
                "frequencies": _unblob(row[3]), "s": _unblob(row[4]), "created_at": row[5], "flag": row[6],
                "settings": json.loads(row[7] or "{}")}

    def list_measurements(self, limit: int = 100, before: int | None = None) -> list[dict]:
        rows = self._newest("SELECT id, hash, params, shape, created_at, flag FROM measurements", "id", limit, before)
        return [{"id": i, "hash": h, "params": json.loads(p), "shape": json.loads(s), "created_at": t, "flag": fl}
                for i, h, p, s, t, fl in rows]

    # ------------------------------------------------------------------ calibrations
    def start_calibration(self, protocol: str, reason: str, params: dict, snapshot: int | None) -> int:
        return self._tx(lambda db: db.execute(
            "INSERT INTO calibrations (protocol, reason, params, status, snapshot, started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (protocol, reason, json.dumps(params), "running", snapshot, time.time())).lastrowid)

    def finish_calibration(self, cid: int, status: str, stages: list | None = None, metrics: dict | None = None,
                           model: bytes | None = None) -> None:
        self._tx(lambda db: db.execute(
            "UPDATE calibrations SET status = ?, stages = ?, metrics = ?, model = ?, finished_at = ? WHERE id = ?",
            (status, json.dumps(stages, default=float), json.dumps(metrics, default=float), model, time.time(), cid)))

    def get_calibration(self, cid: int) -> dict:
        row = self._one("SELECT protocol, reason, params, status, stages, metrics, model, snapshot, started_at, "
                              "finished_at FROM calibrations WHERE id = ?", (cid,))
        if row is None:
            raise KeyError(cid)
        keys = ("protocol", "reason", "params", "status", "stages", "metrics", "model", "snapshot", "started_at",
                "finished_at")
        d = dict(zip(keys, row))
        for k in ("params", "stages", "metrics"):
            d[k] = json.loads(d[k]) if d[k] else None
        d["id"] = cid
        return d

    def list_calibrations(self, limit: int = 100, before: int | None = None) -> list[dict]:
        rows = self._newest("SELECT id, protocol, reason, status, started_at, finished_at, params FROM calibrations",
                            "id", limit, before)
        return [{"id": i, "protocol": p, "reason": r, "status": s, "started_at": a, "finished_at": b,
                 "job": json.loads(q).get("job")} for i, p, r, s, a, b, q in rows]

    def latest_model_id(self) -> int | None:
        """Id of the newest finished calibration with a model (cheap: no model bytes are read)."""
        row = self._one("SELECT id FROM calibrations WHERE status = 'done' AND model IS NOT NULL "
                              "ORDER BY id DESC LIMIT 1")
        return None if row is None else row[0]

    def latest_model(self) -> bytes | None:
        row = self._one("SELECT model FROM calibrations WHERE status = 'done' AND model IS NOT NULL "
                              "ORDER BY id DESC LIMIT 1")
        return None if row is None else row[0]

    def interrupted_calibrations(self) -> list[int]:
        return [r[0] for r in self._all("SELECT id FROM calibrations WHERE status = 'running'")]

    # ------------------------------------------------------------------ events and state
    def event(self, kind: str, data: dict) -> int:
        return self._tx(lambda db: db.execute("INSERT INTO events (t, kind, data) VALUES (?, ?, ?)",
                                              (time.time(), kind, json.dumps(data, default=str))).lastrowid)

    def events(self, kind: str | None = None, limit: int = 100, before: int | None = None) -> list[dict]:
        rows = self._newest("SELECT id, t, kind, data FROM events", "id", limit, before, "kind = ?" if kind else "",
                            (kind,) if kind else ())
        return [{"id": i, "t": t, "kind": k, "data": json.loads(d)} for i, t, k, d in rows]

    def tag(self, kind: str, target, tag: str, operator: str | None = None) -> int:
        """Tag a record (``kind`` config/push/measurement/calibration/event/snapshot, ``target`` its id or hash)."""
        if kind not in TAGGABLE:
            raise ValueError(f"cannot tag a {kind!r}; taggable: {TAGGABLE}")
        if not isinstance(tag, str) or not 0 < len(tag) <= 200:
            raise ValueError("a tag is a string of 1 to 200 characters")
        return self._tx(lambda db: self._insert_tag(db, kind, target, tag, operator, time.time()))

    @staticmethod
    def _insert_tag(db, kind: str, target, tag: str, operator: str | None, t: float) -> int:
        return db.execute("INSERT INTO tags (kind, target, tag, operator, t) VALUES (?, ?, ?, ?, ?)",
                          (kind, str(target), tag, operator, t)).lastrowid

    def exists(self, kind: str, target) -> bool:
        table = {"config": ("configs", "hash"), "push": ("pushes", "id"), "measurement": ("measurements", "id"),
                 "calibration": ("calibrations", "id"), "event": ("events", "id"), "snapshot": ("snapshots", "id")}
        name, key = table[kind]
        return self._one(f"SELECT COUNT(*) FROM {name} WHERE {key} = ?", (str(target),))[0] > 0

    def tags(self, kind: str, target) -> list[str]:
        return [r[0] for r in self._all("SELECT tag FROM tags WHERE kind = ? AND target = ? ORDER BY id",
                                        (kind, str(target)))]

    def outbox_head(self) -> int:
        """The sequence number of the newest outbox entry (0: none)."""
        return self._one("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0]

    def set_state(self, key: str, value) -> None:
        self._tx(lambda db: db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                                       "excluded.value", (key, json.dumps(value))))

    def get_state(self, key: str, default=None):
        row = self._one("SELECT value FROM state WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])
