"""The record descriptions (simhw.values.records) are what the migrations make: a fresh bench store and a
fresh lab database, migrated from 0001, hold exactly the described tables, columns, types, nullability,
keys, references and indexes (in any order: a column a migration adds comes last). And the column added
through them, the bench temperature of a measurement, goes from the board to the store, the lab and its
exports."""

import csv
import re
import sqlite3

import numpy as np
import psycopg
import pytest
from lab_helpers import lab_bench, wait_replicated

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.control.lab.exports import measurements_dataset, to_csv
from simhw.control.lab.lab_store import LabStore
from simhw.control.store import Store
from simhw.values.measurement import RECORD_FIELDS, Measurement
from simhw.values.phase_config import PhaseConfig
from simhw.values.records import LAB_ONLY, RECORDS, REPLICATED, TYPES, record


def sqlite_schema(path) -> dict:
    """table -> (columns [(name, type, notnull, pk)], foreign keys {(column, "table(column)")}) and the
    indexes {name: (table, columns)}, read back from the database."""
    with sqlite3.connect(path) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        out = {
            t: (
                [tuple(r[1:4]) + (r[5],) for r in db.execute(f"PRAGMA table_info({t})")],
                {(r[3], f"{r[2]}({r[4]})") for r in db.execute(f"PRAGMA foreign_key_list({t})")},
            )
            for t in tables
        }
        indexes = {
            name: (table, tuple(r[2] for r in db.execute(f"PRAGMA index_info({name})")))
            for name, table in db.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'"
            )
        }
    return {"tables": out, "indexes": indexes}


def described_sqlite() -> dict:
    tables = {
        r.table: (
            [(c.name, TYPES[c.type][0], int(not c.null and c.name != r.key), int(c.name == r.key)) for c in r.columns],
            {(c.name, c.references) for c in r.columns if c.references},
        )
        for r in RECORDS.values()
    }
    indexes = {name: (r.table, cols) for r in RECORDS.values() for name, cols in r.indexes.items()}
    return {"tables": tables, "indexes": indexes}


def test_a_fresh_store_has_exactly_the_described_tables_columns_and_indexes(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    found, described = sqlite_schema(tmp_path / "s.sqlite"), described_sqlite()
    assert sorted(found["tables"]) == sorted(described["tables"])
    for table, (columns, refs) in described["tables"].items():
        assert sorted(found["tables"][table][0]) == sorted(columns), (table, "columns (name, type, not null, key)")
        assert found["tables"][table][1] == refs, (table, "references")
    assert found["indexes"] == described["indexes"]


def lab_schema(dsn: str) -> dict:
    with psycopg.connect(dsn) as pg:
        cols = pg.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
        keys = pg.execute(
            "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c JOIN "
            "information_schema.key_column_usage k USING (constraint_schema, constraint_name) WHERE "
            "c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public' ORDER BY k.ordinal_position"
        ).fetchall()
        indexes = pg.execute(
            "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND indexname NOT LIKE '%_pkey'"
        ).fetchall()
    tables: dict = {}
    for table, name, type_, nullable in cols:
        tables.setdefault(table, []).append((name, type_, nullable == "YES"))
    pks: dict = {}
    for table, name in keys:
        pks.setdefault(table, []).append(name)
    idx = {n: (t, tuple(c.strip() for c in re.search(r"\((.*)\)", d).group(1).split(","))) for n, t, d in indexes}
    return {"tables": tables, "keys": {t: tuple(k) for t, k in pks.items()}, "indexes": idx}


def test_a_fresh_lab_database_has_exactly_the_described_tables_columns_and_indexes(lab_dsn):
    LabStore(lab_dsn).close()
    found = lab_schema(lab_dsn)
    described = {r.table: r.lab_columns() for r in REPLICATED} | {r.table: r.columns for r in LAB_ONLY}
    keys = {r.table: r.lab_key for r in REPLICATED} | {r.table: (r.key,) for r in LAB_ONLY}
    assert sorted(found["tables"]) == sorted([*described, "lab_schema"])
    for table, columns in described.items():
        expect = [(c.lab, TYPES[c.type][1], c.null and c.lab not in keys[table]) for c in columns]
        assert sorted(found["tables"][table]) == sorted(expect), (table, "columns (name, type, nullable)")
        assert found["keys"][table] == keys[table], table
    assert found["indexes"] == {n: (r.table, cols) for r in REPLICATED for n, cols in r.lab_indexes.items()}


def test_a_measurement_reply_carries_every_stored_field_and_the_store_every_replied_one():
    """The fields a measure reply and the measurement query carry are the stored measurement's columns
    (its id named ``measurement``), less the arrays and their shape, which travel as the reply's arrays."""
    stored = {"measurement" if c.name == "id" else c.name for c in record("measurement").columns}
    assert set(RECORD_FIELDS) == stored - {"frequencies", "s", "shape"}


def test_a_described_measurement_field_without_its_attribute_is_refused_by_name(monkeypatch):
    """RECORD_FIELDS follows the description; a described field that Measurement does not carry is named at import."""
    from simhw.values import measurement

    measurement._check_attributes()
    monkeypatch.setattr(measurement, "RECORD_FIELDS", (*measurement.RECORD_FIELDS, "uptime_s"))
    with pytest.raises(TypeError, match="uptime_s"):
        measurement._check_attributes()


def test_a_measurement_is_stored_from_its_own_fields_and_read_back_equal(tmp_path):
    """The store writes what :meth:`Measurement.row` gives for each described column: every field set to a
    value of its own comes back from the row, and a column the row lacks is refused by name."""
    config = PhaseConfig.random(2, 3, 3, 2, seed=1)
    m = Measurement(
        config.hash,
        np.linspace(27e9, 29e9, 3),
        np.arange(6).reshape(3, 2) * (1 + 2j),
        (4, 3),
        created_at=1.7e9,
        settings={"ifbw_hz": 1e4},
        flag="readback",
        latched={"crc": 7, "boot_id": 2, "latches": 1},
        temperature_k=301.5,
    )
    store = Store(tmp_path / "s.sqlite")
    try:
        store.put_config(config)
        m.id = store.put_measurement(m)
        row = store.get_measurement(m.id)
        back = Measurement.from_record(row, row["frequencies"], row["s"])
        assert back.record() == m.record() and back.receive_ports == (4, 3)
        np.testing.assert_array_equal(back.s, m.s)
        short = Measurement(None, [1e9], [[1j]])
        short.row = lambda: {k: v for k, v in Measurement.row(short).items() if k != "latched"}  # type: ignore[method-assign]
        with pytest.raises(KeyError, match="latched"):
            store.put_measurement(short)
    finally:
        store.close()


@pytest.mark.timeout(300)
def test_a_measurement_records_the_bench_temperature_in_the_store_the_lab_and_its_exports(tmp_path, lab_dsn):
    cfg = lab_bench(tmp_path, "warm", lab_dsn)
    cfg.simulation.drift_k_per_hour = 36.0  # 10 K per 1000 s of the bench's clock
    expected, replied = [], []
    with embedded_daemon(cfg) as (bench, _), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        sensor = bench.firmwares[0].temperature_fn  # what the simulated bench's board reads now, deg C
        for _ in range(2):
            replied.append(c.measure().temperature_k)
            expected.append(sensor() + 273.15)
            bench.clock.advance(1000.0)
        replied.append(c.measurement(1).temperature_k)
        wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
    assert expected[1] - expected[0] == pytest.approx(10.0, abs=0.1)  # the bench warmed between the two sweeps
    store = Store(cfg.daemon.store)
    stored = [store.get_measurement(m["id"])["temperature_k"] for m in store.list_measurements()[::-1]]
    store.close()
    np.testing.assert_allclose(stored, expected, atol=0.02)  # the board reports hundredths of a degree
    assert replied == [*stored, stored[0]]  # the replies of measure and of the measurement query carry it
    with LabStore(lab_dsn) as lab:
        recs = lab.query("measurement", bench=cfg.name)
    assert [r["temperature_k"] for r in recs[::-1]] == stored
    np.testing.assert_array_equal(measurements_dataset(recs)["temperature_k"].values, stored)
    with open(to_csv(recs, tmp_path / "m.csv")) as fh:
        assert sorted(float(r["temperature_k"]) for r in csv.DictReader(fh)) == sorted(stored)
