"""The store gives no dirty reads, and its migrations are files (one per schema version)."""

import threading

import pytest

from simhw.control.store import MIGRATIONS_DIR, SCHEMA_VERSION, Store


def test_a_reader_never_sees_a_row_the_writer_then_rolls_back(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    inserted, seen = threading.Event(), []

    def write_then_fail(db):
        db.execute("INSERT INTO events (t, kind, data) VALUES (0, 'phantom', '{}')")
        inserted.set()
        reader.join(0.5)  # the reader tries meanwhile: it must wait for this transaction to end
        raise RuntimeError("the write fails after its insert")

    reader = threading.Thread(target=lambda: (inserted.wait(5), seen.append(store.events("phantom"))))
    reader.start()
    with pytest.raises(RuntimeError), store.atomic() as db:
        write_then_fail(db)
    reader.join(5)
    assert seen == [[]] and store.events("phantom") == []


def test_migrations_are_numbered_files():
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert files == [f"{v:04d}.sql" for v in range(1, SCHEMA_VERSION + 1)] and SCHEMA_VERSION >= 3
