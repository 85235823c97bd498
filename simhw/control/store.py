"""The bench's local result store: SQLite in WAL mode, schema versions and migrations.

Tables: ``configs`` (by content hash, codes as a blob, metadata), ``pushes`` (every acknowledged
push: config, client request id, time), ``measurements`` (frequencies and S-parameters as blobs,
linked to the config shown and a bench snapshot), ``snapshots`` (bench description and software
version), ``calibrations`` (protocol, parameters, per-stage metrics, the resulting model as .npz
bytes, status), ``events``, ``tags``, ``outbox`` (what the lab replicator ships next) and ``state``
(key/value: the scheduler's last runs, for resuming). Their columns are described once, in
:mod:`simhw.values.records`: the statements here are built, and rows decoded, from those descriptions.

Every write is one transaction, :meth:`Store.atomic`. With ``durability="process"`` (the default, ``synchronous=NORMAL``
in WAL mode) a committed record is in the WAL file before the method returns, so it survives the
process being killed, and commits cost no fsync; ``durability="power"`` (``synchronous=FULL``)
fsyncs every commit so a record also survives power loss or an OS crash. One connection per store
object, guarded by a lock, so the daemon's threads can share it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

from simhw.control.row_codec import codes_blob, decode_row, encode
from simhw.control.store_migrations import MIGRATIONS_DIR, SCHEMA_VERSION, migrate_to
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig
from simhw.values.records import REPLICATED, Record, record

__all__ = ["Store", "StoreError", "StoreFull", "SCHEMA_VERSION", "MIGRATIONS_DIR", "TAGGABLE", "NAME_TAG"]

NAME_TAG = "name:"  # a configuration's tag recording a further name it was stored under
TAGGABLE = ("config", "push", "measurement", "calibration", "event", "snapshot")


class StoreError(RuntimeError):
    pass


class StoreFull(RuntimeError):
    """The disk (or the configured size cap) is full; the write was rolled back entirely."""


CONFIG, PUSH, SNAPSHOT, MEASUREMENT, CALIBRATION, EVENT, TAG, STATE = (
    record(k) for k in ("config", "push", "snapshot", "measurement", "calibration", "event", "tag", "state")
)


def _insert(db, rec: Record, values: dict, verb: str = "INSERT", tail: str = ""):
    """Insert one row of ``rec`` (column name -> Python value, encoded by the column's type); the cursor."""
    cols = [rec.column(n) for n in values]
    sql = f"{verb} INTO {rec.table} ({', '.join(c.name for c in cols)}) VALUES ({', '.join('?' * len(cols))})" + (
        " " + tail if tail else ""
    )
    return db.execute(sql, [encode(c, values[c.name]) for c in cols])


def _names(rec: Record, names=None) -> tuple[str, ...]:
    return rec.names if names is None else tuple(names)


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

    # ------------------------------------------------------------------ schema and transactions
    def _migrate(self) -> None:
        with self._lock:
            version = self._one("PRAGMA user_version")[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema {version}, newer than this simhw's {SCHEMA_VERSION}")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                with self.atomic() as db:
                    migrate_to(db, v)

    @property
    def schema_version(self) -> int:
        return self._one("PRAGMA user_version")[0]

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextlib.contextmanager
    def atomic(self):
        """One write transaction, under the store's lock: yields the connection; everything written in
        the block is committed when it ends, and nothing of it when it raises (a full disk or size cap
        raises :class:`StoreFull`). A block inside another one joins the outer transaction."""
        with self._lock:
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
                    raise StoreFull(
                        f"the store {self.path} is full (disk, or daemon.store_max_mb): nothing of this write was kept"
                    ) from None
                raise

    def _one(self, sql: str, args=()):
        """One row of a read, under the writer's lock: a reader never sees a row a writer then rolls back."""
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    def _all(self, sql: str, args=()) -> list:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _get(self, rec: Record, key, names=None) -> dict:
        """The record of ``rec`` with key ``key``, decoded; KeyError if there is none."""
        names = _names(rec, names)
        row = self._one(f"SELECT {', '.join(names)} FROM {rec.table} WHERE {rec.key} = ?", (key,))
        if row is None:
            raise KeyError(key)
        return decode_row(rec, names, row)

    def _newest(
        self,
        rec: Record,
        names=None,
        limit: int | None = None,
        before: int | None = None,
        where: str = "",
        args=(),
        key: str | None = None,
    ) -> list[dict]:
        """Records of ``rec`` newest first by ``key`` (default: its key), older than ``before`` (a
        listing's page cursor), at most ``limit``, decoded."""
        key = key or rec.key
        names = [n for n in _names(rec, names) if n != key]
        conds = [c for c in (where, f"{key} < ?" if before is not None else "") if c]
        q = (
            f"SELECT {key}, {', '.join(names)} FROM {rec.table}"
            + (" WHERE " + " AND ".join(conds) if conds else "")
            + f" ORDER BY {key} DESC"
            + (" LIMIT ?" if limit is not None else "")
        )
        args = (*args, *(() if before is None else (int(before),)), *(() if limit is None else (int(limit),)))
        return [{key: r[0], **decode_row(rec, names, r[1:])} for r in self._all(q, args)]

    # ------------------------------------------------------------------ configs and pushes
    def _put_config(self, db, config: PhaseConfig, text: str | None = None) -> None:
        """``text``: the config's file line as received (PhaseConfig.to_bytes), saves encoding it again.
        A pattern is kept once, under the name it first came with; a later name is recorded as a
        ``name:<name>`` tag on it, once per name, so :meth:`config_named` finds it by every name."""
        now = time.time()
        row = {
            "hash": config.hash,
            "name": config.name,
            "bits": config.bits,
            "shape": list(config.shape),
            "codes": codes_blob(config.codes),
            "metadata": text or config.to_bytes().decode(),
            "first_seen": now,
        }
        if _insert(db, CONFIG, row, "INSERT OR IGNORE").rowcount or not config.name:
            return
        tag = NAME_TAG + config.name
        if (
            db.execute(
                "SELECT 1 FROM configs WHERE hash = ? AND name = ? UNION ALL SELECT 1 FROM tags WHERE kind = "
                "'config' AND target = ? AND tag = ? LIMIT 1",
                (config.hash, config.name, config.hash, tag),
            ).fetchone()
            is None
        ):
            self._insert_tag(db, "config", config.hash, tag, None, now)

    def put_config(self, config: PhaseConfig) -> str:
        with self.atomic() as db:
            self._put_config(db, config)
        return config.hash

    def record_pushes(self, pushes: list) -> list[int]:
        """Record many acknowledged pushes [(config, client, request_id, applied[, text]), ...] in one
        transaction; ``text`` is the config's file line as received, if at hand."""
        with self.atomic() as db:
            ids = []
            for config, client, rid, applied, *text in pushes:
                self._put_config(db, config, *text)
                ids.append(
                    _insert(
                        db,
                        PUSH,
                        {
                            "hash": config.hash,
                            "client": client,
                            "request_id": rid,
                            "applied": applied,
                            "acked_at": time.time(),
                        },
                    ).lastrowid
                )
            return ids

    def get_config(self, hash_: str) -> PhaseConfig:
        return PhaseConfig.from_bytes(self._get(CONFIG, hash_, ("metadata",))["metadata"].encode())

    def config_named(self, name: str) -> str | None:
        """The hash of the configuration that most recently came with ``name`` for the first time (as its
        first name, or a later one: :meth:`_put_config`), or None. A pattern pushed again under a name it
        already has does not take the name back from a newer pattern."""
        row = self._one(
            "SELECT hash, first_seen FROM configs WHERE name = ? UNION ALL SELECT target, t FROM tags "
            "WHERE kind = 'config' AND tag = ? ORDER BY 2 DESC LIMIT 1",
            (name, NAME_TAG + name),
        )
        return None if row is None else row[0]

    def list_configs(self, limit: int = 100, before: int | None = None) -> list[dict]:
        """The newest configurations first; ``seq`` orders them (first seen) and is a listing's page cursor."""
        return [{"seq": r.pop("rowid"), **r} for r in self._newest(CONFIG, CONFIG.listed, limit, before, key="rowid")]

    def pushes(self, limit: int | None = None, before: int | None = None) -> list[dict]:
        """The last ``limit`` acknowledged pushes (all if None) older than ``before``, oldest first."""
        return self._newest(PUSH, None, limit, before)[::-1]

    def last_push(self) -> dict | None:
        rows = self._newest(PUSH, ("hash",), 1)
        return rows[0] if rows else None

    def count(self, table: str) -> int:
        if table not in {r.table for r in REPLICATED}:
            raise ValueError(table)
        return self._one(f"SELECT COUNT(*) FROM {table}")[0]

    # ------------------------------------------------------------------ snapshots and measurements
    def snapshot(self, bench_toml: str, software: str) -> int:
        with self.atomic() as db:
            row = db.execute(
                "SELECT id FROM snapshots WHERE bench = ? AND software = ? ORDER BY id DESC LIMIT 1",
                (bench_toml, software),
            ).fetchone()
            if row:
                return row[0]
            return _insert(
                db, SNAPSHOT, {"bench": bench_toml, "software": software, "created_at": time.time()}
            ).lastrowid

    def get_snapshot(self, sid: int) -> dict:
        return self._get(SNAPSHOT, sid)

    def put_measurement(self, m: Measurement) -> int:
        """Store ``m``: one value per column of the ``measurement`` description, from :meth:`Measurement.row`;
        returns its id."""
        row = m.row()
        missing = [c.name for c in MEASUREMENT.columns if c.name != "id" and c.name not in row]
        if missing:
            raise KeyError(f"a Measurement's row lacks the stored column(s) {', '.join(missing)}")
        with self.atomic() as db:
            return _insert(
                db, MEASUREMENT, {c.name: row[c.name] for c in MEASUREMENT.columns if c.name != "id"}
            ).lastrowid

    def get_measurement(self, mid: int) -> dict:
        return self._get(MEASUREMENT, mid)

    def list_measurements(self, limit: int = 100, before: int | None = None) -> list[dict]:
        return self._newest(MEASUREMENT, MEASUREMENT.listed, limit, before)

    # ------------------------------------------------------------------ calibrations
    def start_calibration(self, protocol: str, reason: str, params: dict, snapshot: int | None) -> int:
        with self.atomic() as db:
            return _insert(
                db,
                CALIBRATION,
                {
                    "protocol": protocol,
                    "reason": reason,
                    "params": params,
                    "status": "running",
                    "snapshot": snapshot,
                    "started_at": time.time(),
                },
            ).lastrowid

    def finish_calibration(
        self, cid: int, status: str, stages: list | None = None, metrics: dict | None = None, model: bytes | None = None
    ) -> None:
        values = {"status": status, "stages": stages, "metrics": metrics, "model": model, "finished_at": time.time()}
        cols = [CALIBRATION.column(n) for n in CALIBRATION.updated]
        with self.atomic() as db:
            db.execute(
                f"UPDATE calibrations SET {', '.join(c.name + ' = ?' for c in cols)} WHERE id = ?",
                [encode(c, values[c.name]) for c in cols] + [cid],
            )

    def get_calibration(self, cid: int) -> dict:
        return self._get(CALIBRATION, cid)

    def list_calibrations(self, limit: int = 100, before: int | None = None) -> list[dict]:
        rows = self._newest(CALIBRATION, CALIBRATION.listed, limit, before)
        return [{**r, "job": r.pop("params").get("job")} for r in rows]

    def latest_model_id(self) -> int | None:
        """Id of the newest finished calibration with a model (cheap: no model bytes are read)."""
        row = self._one(
            "SELECT id FROM calibrations WHERE status = 'done' AND model IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else row[0]

    def latest_model(self) -> bytes | None:
        row = self._one(
            "SELECT model FROM calibrations WHERE status = 'done' AND model IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else row[0]

    def interrupted_calibrations(self) -> list[int]:
        return [r[0] for r in self._all("SELECT id FROM calibrations WHERE status = 'running'")]

    # ------------------------------------------------------------------ events, tags and state
    def event(self, kind: str, data: dict) -> int:
        with self.atomic() as db:
            return _insert(db, EVENT, {"t": time.time(), "kind": kind, "data": data}).lastrowid

    def events(self, kind: str | None = None, limit: int = 100, before: int | None = None) -> list[dict]:
        return self._newest(EVENT, None, limit, before, "kind = ?" if kind else "", (kind,) if kind else ())

    def tag(self, kind: str, target, tag: str, operator: str | None = None) -> int:
        """Tag a record (``kind`` config/push/measurement/calibration/event/snapshot, ``target`` its id or hash)."""
        if kind not in TAGGABLE:
            raise ValueError(f"cannot tag a {kind!r}; taggable: {TAGGABLE}")
        if not isinstance(tag, str) or not 0 < len(tag) <= 200:
            raise ValueError("a tag is a string of 1 to 200 characters")
        with self.atomic() as db:
            return self._insert_tag(db, kind, target, tag, operator, time.time())

    @staticmethod
    def _insert_tag(db, kind: str, target, tag: str, operator: str | None, t: float) -> int:
        return _insert(
            db, TAG, {"kind": kind, "target": str(target), "tag": tag, "operator": operator, "t": t}
        ).lastrowid

    def exists(self, kind: str, target) -> bool:
        rec = record(kind)
        return self._one(f"SELECT COUNT(*) FROM {rec.table} WHERE {rec.key} = ?", (str(target),))[0] > 0

    def tags(self, kind: str, target) -> list[str]:
        return [
            r[0]
            for r in self._all("SELECT tag FROM tags WHERE kind = ? AND target = ? ORDER BY id", (kind, str(target)))
        ]

    def outbox_head(self) -> int:
        """The sequence number of the newest outbox entry (0: none)."""
        return self._one("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0]

    def set_state(self, key: str, value) -> None:
        with self.atomic() as db:
            _insert(
                db, STATE, {"key": key, "value": value}, tail="ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            )

    def get_state(self, key: str, default=None):
        try:
            return self._get(STATE, key, ("value",))["value"]
        except KeyError:
            return default
