"""Questions across a lab's benches, asked of the lab PostgreSQL: records and their arrays.

``LabStore(dsn).query(kind, bench=, config=, since=, until=, tag=)`` returns records of one kind
(measurement, calibration, push, config, event, snapshot), newest first, each with its arrays
decoded (measurements: ``frequencies``, ``s``; configs: ``codes``; calibrations: ``model`` bytes)
and its provenance: the bench snapshot it was taken under (bench file, software version), the
calibration model in use at the time (measurements), the operator and the tags.
"""

from __future__ import annotations

import json

import numpy as np
import psycopg

from simhw.control.lab.replicator import register_bench
from simhw.control.lab.schema import SCHEMA_VERSION, atomic, migrate
from simhw.control.row_codec import decode
from simhw.values.records import REPLICATED

__all__ = ["LabStore", "KINDS"]

KINDS = {r.kind: r for r in REPLICATED if r.kind != "tag"}  # what a query asks for; tags come with each record


class LabStore:
    """A connection to the lab database (migrated to the current schema on open)."""

    def __init__(self, dsn: str, connect_timeout: float = 5.0):
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, connect_timeout=int(max(connect_timeout, 1)), autocommit=True)
        self.schema_version = migrate(self.conn)

    @classmethod
    def init(cls, dsn: str) -> LabStore:
        """Create or migrate the lab schema at ``dsn`` (``simhw lab init``)."""
        return cls(dsn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ the registry
    def atomic(self):
        """One transaction on the lab database (:func:`simhw.control.lab.schema.atomic`)."""
        return atomic(self.conn)

    def register(self, name: str, endpoints: dict | None = None, public_keys: list | None = None) -> None:
        with self.atomic():
            register_bench(self.conn, name, endpoints, public_keys)

    def benches(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT name, endpoints, public_keys, registered_at, replicated_seq, replicated_at "
            "FROM benches ORDER BY name"
        ).fetchall()
        return [
            {
                "name": r[0],
                "endpoints": r[1],
                "public_keys": r[2],
                "registered_at": r[3],
                "replicated_seq": r[4],
                "replicated_at": r[5],
            }
            for r in rows
        ]

    def count(self, kind: str, bench: str | None = None) -> int:
        sql, args = f"SELECT count(*) FROM {KINDS[kind].table}", []
        if bench is not None:
            sql, args = sql + " WHERE bench = %s", [bench]
        row = self.conn.execute(sql, args).fetchone()
        assert row is not None  # count(*) always answers one row
        return row[0]

    # ------------------------------------------------------------------ queries
    def query(
        self,
        kind: str,
        bench: str | None = None,
        config: str | None = None,
        since: float | None = None,
        until: float | None = None,
        tag: str | None = None,
        limit: int = 1000,
        arrays: bool = True,
    ) -> list[dict]:
        """Records of ``kind`` matching every filter given, newest first (see the module doc)."""
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}; known: {sorted(KINDS)}")
        rec = KINDS[kind]
        table, tcol, hcol, cols = rec.table, rec.time, rec.config, rec.lab_own()
        if config is not None and hcol is None:
            raise ValueError(f"{kind} records carry no configuration hash to filter by")
        where, args = [], []
        if config is not None:  # a full hash, or a prefix of one (the dashboard shows 12 characters)
            config = config.strip().lower()
            if not config or any(ch not in "0123456789abcdef" for ch in config):
                raise ValueError(f"--config takes a configuration hash or a prefix of one (hex digits), got {config!r}")
            config = config if len(config) == 64 else config + "%"
        for cond, value in (
            ("x.bench = %s", bench),
            (f"x.{hcol} LIKE %s" if hcol else "", config),
            (f"x.{tcol} >= %s", since),
            (f"x.{tcol} <= %s", until),
        ):
            if value is not None:
                where.append(cond)
                args.append(value)
        target = f"x.{rec.lab_key[1]}" + ("::text" if rec.autoincrement else "")
        if tag is not None:
            where.append(
                f"EXISTS (SELECT 1 FROM tags g WHERE g.bench = x.bench AND g.kind = %s AND g.target = "
                f"{target} AND g.tag = %s)"
            )
            args += [kind, tag]
        sql = (
            f"SELECT x.bench, {', '.join('x.' + c.lab for c in cols)}, "
            f"(SELECT coalesce(json_agg(json_build_object('tag', g.tag, 'operator', g.operator) ORDER BY "
            f"g.local_id), '[]') FROM tags g WHERE g.bench = x.bench AND g.kind = %s AND g.target = {target}) "
            f"FROM {table} x"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY x.{tcol} DESC, x.seq DESC LIMIT %s"
        )
        rows = self.conn.execute(sql, [kind] + args + [int(limit)]).fetchall()
        out = [{"bench": r[0], **self._decode(cols, r[1:-1], r[-1], arrays)} for r in rows]
        if kind in ("measurement", "calibration"):
            self._provenance(kind, out)
        return out

    @staticmethod
    def _decode(cols: tuple, row, tags: list, arrays: bool) -> dict:
        """A lab row as a record: its columns decoded (``local_id`` as ``id``; arrays and model bytes left
        out unless ``arrays``), its tags and their operators."""
        rec = {}
        for c, v in zip(cols, row):
            big = c.type in ("array", "bytes")
            rec["id" if c.name == "local_id" else c.name] = None if big and not arrays else decode(c, v, lab=True)
        rec["tags"] = [t["tag"] for t in tags]
        rec["operators"] = sorted({t["operator"] for t in tags if t["operator"]})
        return rec

    def _provenance(self, kind: str, recs: list) -> None:
        """Each record's bench snapshot (bench file, software) and, for measurements, the model in use."""
        snaps = {(r["bench"], r["snapshot"]) for r in recs if r.get("snapshot") is not None}
        found = {}
        for bench, sid in snaps:
            row = self.conn.execute(
                "SELECT bench_file, software FROM snapshots WHERE bench = %s AND local_id = %s", (bench, sid)
            ).fetchone()
            if row is not None:
                found[(bench, sid)] = {"bench_file": row[0], "software": row[1]}
        for r in recs:
            prov = dict(found.get((r["bench"], r.get("snapshot")), {}))
            if kind == "measurement":
                row = self.conn.execute(
                    "SELECT local_id, metrics->>'heldout_nmse_db' FROM calibrations WHERE bench = %s AND status = "
                    "'done' AND finished_at <= %s ORDER BY finished_at DESC LIMIT 1",
                    (r["bench"], r["created_at"]),
                ).fetchone()
                prov["model_calibration"] = None if row is None else row[0]
                prov["model_heldout_nmse_db"] = None if row is None or row[1] is None else float(row[1])
            prov["operators"] = r["operators"]
            prov["tags"] = r["tags"]
            r["provenance"] = prov

    def residual_history(
        self, bench: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[dict]:
        """How each bench's held-out prediction residual moved: one row per finished calibration, oldest first."""
        recs = self.query("calibration", bench=bench, since=since, until=until, limit=100_000, arrays=False)
        rows = [
            {
                "bench": r["bench"],
                "calibration": r["id"],
                "finished_at": r["finished_at"],
                "heldout_nmse_db": (r["metrics"] or {}).get("heldout_nmse_db"),
                "reason": r["reason"],
            }
            for r in recs
            if r["status"] == "done"
        ]
        return sorted(rows, key=lambda r: r["finished_at"] or 0)

    def describe(self) -> dict:
        return {
            "dsn": self.dsn.split("@")[-1],
            "schema": SCHEMA_VERSION,
            "benches": [b["name"] for b in self.benches()],
            "counts": {k: self.count(k) for k in KINDS},
        }


def dumps(rec: dict) -> str:
    """A record as one JSON line (arrays as lists; complex as [re, im])."""

    def enc(v):
        if isinstance(v, np.ndarray):
            return np.stack([v.real, v.imag], -1).tolist() if np.iscomplexobj(v) else v.tolist()
        if isinstance(v, (bytes, bytearray, memoryview)):
            return f"<{len(bytes(v))} bytes>"
        return str(v)

    return json.dumps(rec, default=enc)
