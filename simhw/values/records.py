"""One description per record kind the bench store keeps and the lab replicates: its table, its columns
and their types, which are JSON and which arrays, its key and indexes.

The bench store (:mod:`simhw.control.store`) builds its statements and decodes its rows from these
descriptions, the replicator (:mod:`simhw.control.lab.replicator`) ships by them, the lab store
(:mod:`simhw.control.lab.lab_store`) queries and decodes by them, the exports take their per-sweep
coordinates from them, and the tests compare the store with the lab column by column through them.
The schemas themselves are made by migration files (``simhw/control/migrations/NNNN.sql`` for the
bench store, ``simhw/control/lab/migrations/NNNN.sql`` for the lab); a test migrates fresh databases
from 0001 and checks that they hold exactly the columns, keys and indexes described here.

Adding a column is one :class:`Column` here plus one migration file for each database that holds the
table; whatever produces the value passes it under the column's name (a column nobody fills stays
NULL). A measurement's columns are also the fields of its record
(:data:`simhw.values.measurement.RECORD_FIELDS` is derived from this description), so a measurement
column is carried by a :class:`~simhw.values.measurement.Measurement` attribute of the same name (a
check at import names a column it lacks), and the control protocol's reply table in docs/control.md
lists it (a test compares).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "LAB_BENCH",
    "LAB_EXTRA",
    "LAB_ONLY",
    "RECORDS",
    "REPLICATED",
    "STORE_ONLY",
    "TYPES",
    "Column",
    "Record",
    "record",
]

# a column's type -> (SQLite type, PostgreSQL type)
TYPES = {
    "text": ("TEXT", "text"),
    "int": ("INTEGER", "integer"),
    "id": ("INTEGER", "bigint"),  # a record's id, or a reference to one
    "real": ("REAL", "double precision"),
    "bool": ("INTEGER", "boolean"),
    "bytes": ("BLOB", "bytea"),  # opaque bytes (a calibrated model's .npz)
    "array": ("BLOB", "bytea"),  # a NumPy array as .npy bytes, the same bytes in both databases
    "json": ("TEXT", "jsonb"),
    "json_text": ("TEXT", "text"),  # JSON kept as text in the lab as well (a shape)
}


@dataclass(frozen=True)
class Column:
    """One column: its name, type (a key of :data:`TYPES`) and whether it takes NULL."""

    name: str
    type: str
    null: bool = True
    references: str | None = None  # the bench store's foreign key, as "table(column)"
    lab_name: str | None = None  # its name in the lab table, where the bench store's name is taken there
    empty: str | None = None  # JSON text a NULL reads back as (None: None)
    export: str | None = None  # the per-sweep coordinate of a measurement series (exports) it becomes

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}; known: {sorted(TYPES)}")

    @property
    def lab(self) -> str:
        return self.lab_name or self.name

    @property
    def json(self) -> bool:
        return self.type in ("json", "json_text")


@dataclass(frozen=True)
class Record:
    """A record kind: ``kind`` names it in the outbox, in tags and in lab queries; ``table`` is its table
    in both databases. ``key``: its primary key column (``id``: an autoincrementing integer, the lab's
    ``local_id``). ``time``: the column that dates a record; ``config``: the column holding the hash of
    the configuration it concerns, if any. ``updated``: the columns a later write changes (the lab
    keeps a record's latest row). ``listed``: the columns a listing shows. ``indexes`` and
    ``lab_indexes``: index name -> indexed columns, in the bench store and in the lab."""

    kind: str
    table: str
    columns: tuple[Column, ...]
    key: str = "id"
    time: str | None = None
    config: str | None = None
    updated: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()
    indexes: dict = field(default_factory=dict)
    lab_indexes: dict = field(default_factory=dict)

    def __post_init__(self):
        names = [c.name for c in self.columns]
        if names[0] != self.key:
            raise ValueError(f"{self.kind}: its key {self.key!r} must be its first column")
        unknown = {self.time, self.config, *self.updated, *self.listed} - set(names) - {None}
        if unknown:
            raise ValueError(f"{self.kind}: no columns {sorted(unknown)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.kind} records have no column {name!r}; columns: {', '.join(self.names)}")

    @property
    def autoincrement(self) -> bool:
        """Its key is an integer the database assigns."""
        return self.columns[0].type == "id"

    def lab_own(self) -> tuple[Column, ...]:
        """The lab columns that hold the record's own values, in its order (``id`` as ``local_id``)."""
        return tuple(Column("local_id", "id", null=False) if c.name == "id" else c for c in self.columns)

    def lab_columns(self) -> tuple[Column, ...]:
        """The lab table's columns: the bench, the record's own (:meth:`lab_own`), then :data:`LAB_EXTRA`."""
        return (LAB_BENCH, *self.lab_own(), *LAB_EXTRA)

    @property
    def lab_key(self) -> tuple[str, ...]:
        return ("bench", "local_id" if self.key == "id" else self.key)


LAB_BENCH = Column("bench", "text", null=False, references="benches(name)")  # whose record a lab row is
# every replicated lab row: the outbox sequence number it came with, and when it reached the lab
LAB_EXTRA = (Column("seq", "id", null=False), Column("arrived_at", "real", null=False))

_T = "real"  # seconds since the epoch

REPLICATED = (  # in the order the lab writes a batch: referenced records first
    Record(
        "config",
        "configs",
        (
            Column("hash", "text"),
            Column("name", "text"),
            Column("bits", "int", null=False),
            Column("shape", "json_text", null=False),
            Column("codes", "array", null=False),
            Column("metadata", "text", null=False),  # the configuration's file line
            Column("first_seen", _T, null=False),
        ),
        key="hash",
        time="first_seen",
        config="hash",
        listed=("hash", "name", "bits", "shape", "first_seen"),
        indexes={"configs_name": ("name",)},
    ),
    Record(
        "snapshot",
        "snapshots",
        (
            Column("id", "id"),
            Column("bench", "text", null=False, lab_name="bench_file"),
            Column("software", "text", null=False),
            Column("created_at", _T, null=False),
        ),
        time="created_at",
    ),
    Record(
        "push",
        "pushes",
        (
            Column("id", "id"),
            Column("hash", "text", null=False, references="configs(hash)"),
            Column("client", "text"),
            Column("request_id", "text"),
            Column("applied", "bool", null=False),
            Column("acked_at", _T, null=False),
        ),
        time="acked_at",
        config="hash",
        indexes={"pushes_hash": ("hash",)},
        lab_indexes={"pushes_hash": ("hash",)},
    ),
    Record(
        "measurement",
        "measurements",
        (
            Column("id", "id", export="measurement"),
            Column("hash", "text", references="configs(hash)", export="config"),
            Column("snapshot", "id", references="snapshots(id)", export="snapshot"),
            Column("params", "json", null=False),
            Column("frequencies", "array", null=False),
            Column("s", "array", null=False),
            Column("shape", "json_text", null=False),
            Column("created_at", _T, null=False),
            Column("flag", "text"),  # why the label is not a verified push: see board_state
            Column("settings", "json", empty="{}"),  # the instrument's state for the sweep
            Column("temperature_k", "real", export="temperature_k"),  # the board's temperature read after the sweep, K
            Column("latched", "json"),  # the board's latch report when the sweep started (crc, boot_id, latches)
        ),
        time="created_at",
        config="hash",
        listed=("id", "hash", "params", "shape", "created_at", "flag"),
        lab_indexes={"measurements_hash": ("hash",), "measurements_time": ("bench", "created_at")},
    ),
    Record(
        "calibration",
        "calibrations",
        (
            Column("id", "id"),
            Column("protocol", "text", null=False),
            Column("reason", "text"),
            Column("params", "json", null=False),
            Column("status", "text", null=False),
            Column("stages", "json"),
            Column("metrics", "json"),
            Column("model", "bytes"),
            Column("snapshot", "id", references="snapshots(id)"),
            Column("started_at", _T, null=False),
            Column("finished_at", _T),
        ),
        time="started_at",
        updated=("status", "stages", "metrics", "model", "finished_at"),
        listed=("id", "protocol", "reason", "status", "started_at", "finished_at", "params"),
        lab_indexes={"calibrations_time": ("bench", "started_at")},
    ),
    Record(
        "event",
        "events",
        (
            Column("id", "id"),
            Column("t", _T, null=False),
            Column("kind", "text", null=False),
            Column("data", "json", null=False),
        ),
        time="t",
        indexes={"events_kind": ("kind",)},
        lab_indexes={"events_kind": ("bench", "kind", "t")},
    ),
    Record(
        "tag",
        "tags",
        (
            Column("id", "id"),
            Column("kind", "text", null=False),
            Column("target", "text", null=False),
            Column("tag", "text", null=False),
            Column("operator", "text"),
            Column("t", _T, null=False),
        ),
        time="t",
        indexes={"tags_target": ("kind", "target"), "tags_tag": ("kind", "tag")},
        lab_indexes={"tags_target": ("bench", "kind", "target"), "tags_tag": ("tag",)},
    ),
)

STORE_ONLY = (
    Record("state", "state", (Column("key", "text"), Column("value", "json", null=False)), key="key"),
    Record(
        "outbox",
        "outbox",
        (  # what the replicator ships next, in commit order (filled by triggers)
            Column("seq", "id"),
            Column("kind", "text", null=False),
            Column("local_id", "id"),
            Column("key", "text"),
            Column("t", _T, null=False),
        ),
        key="seq",
        time="t",
    ),
)

LAB_ONLY = (
    Record(
        "bench",
        "benches",
        (  # the lab's registry, and how far each bench has replicated
            Column("name", "text", null=False),
            Column("endpoints", "json", null=False),
            Column("public_keys", "json", null=False),
            Column("registered_at", _T, null=False),
            Column("replicated_seq", "id", null=False),
            Column("replicated_at", _T),
            Column("store_schema", "int"),
        ),
        key="name",
    ),
)

RECORDS = {r.kind: r for r in (*REPLICATED, *STORE_ONLY)}  # the bench store's tables


def record(kind: str) -> Record:
    """The description of ``kind`` (config, push, measurement, ..; state, outbox)."""
    try:
        return RECORDS[kind]
    except KeyError:
        raise KeyError(f"no record kind {kind!r}; known: {', '.join(RECORDS)}") from None
