"""The bench store's schema versions: one SQL file per version in ``migrations/`` (0001.sql, 0002.sql, ...),
each run in order in one transaction when a store opens (:class:`simhw.control.store.Store`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from simhw.values.files import migration_files

__all__ = ["MIGRATIONS_DIR", "MIGRATIONS", "SCHEMA_VERSION", "migrate_to"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")  # 0001.sql, 0002.sql, ...: one file per schema version


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


MIGRATIONS = migration_files(MIGRATIONS_DIR)
SCHEMA_VERSION = max(MIGRATIONS)


def migrate_to(db: sqlite3.Connection, version: int) -> None:
    """Run migration ``version`` on ``db`` (inside the caller's transaction) and record the version."""
    for stmt in _statements(MIGRATIONS[version]):
        db.execute(stmt)
    db.execute(f"PRAGMA user_version={version}")
