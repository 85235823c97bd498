"""The lab database's schema (PostgreSQL), versioned: one migration file per version
(``simhw/control/lab/migrations/0001.sql``, ...), applied in order; and :func:`atomic`, the one way
lab code opens a transaction.

Every replicated table is keyed by (bench, local id) (configs by (bench, hash)): a record shipped
twice is stored once; ``arrived_at`` is when a row reached the lab (its replication lag against
the record's own time). Arrays are kept as the bench store's .npy bytes, byte for byte. ``benches``
is the lab's registry (endpoints, public keys) and holds each bench's replication cursor, updated
in the same transaction as the records it covers. The tables' columns are described in
:mod:`simhw.values.records`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from simhw.values.files import migration_files

__all__ = ["MIGRATIONS", "MIGRATIONS_DIR", "SCHEMA_VERSION", "LabSchemaError", "atomic", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATIONS = migration_files(MIGRATIONS_DIR)
SCHEMA_VERSION = max(MIGRATIONS)
MIGRATION_LOCK = 4242  # the advisory lock two benches starting at once take to migrate one after the other


class LabSchemaError(RuntimeError):
    pass


@contextlib.contextmanager
def atomic(conn, lock: int | None = None):
    """One transaction on ``conn`` (a psycopg connection): committed when the block ends, rolled back
    when it raises. ``lock``: an advisory lock held until the transaction ends."""
    with conn.transaction():
        if lock is not None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        yield conn


def migrate(conn) -> int:
    """Bring the lab database (a psycopg connection) to SCHEMA_VERSION; returns the version it is at.

    Every version is applied in one transaction, under an advisory lock so two benches starting at
    once do not both migrate."""
    with atomic(conn, MIGRATION_LOCK):
        conn.execute("CREATE TABLE IF NOT EXISTS lab_schema (version integer NOT NULL)")
        row = conn.execute("SELECT max(version) FROM lab_schema").fetchone()
        version = row[0] or 0
        if version > SCHEMA_VERSION:
            raise LabSchemaError(f"the lab database has schema {version}, newer than this simhw's {SCHEMA_VERSION}")
        for v in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[v])
            conn.execute("INSERT INTO lab_schema VALUES (%s)", (v,))
    return SCHEMA_VERSION
