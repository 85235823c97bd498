"""The lab store's details on a real PostgreSQL (.ci/pg.sh): hash prefixes, shapes, exports across
benches (bench files, datetimes, CSV), failed exports, the command line's --dsn and environment, and
the controller reporting each bench's real outcome."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from lab_helpers import assert_lab_equals_store, lab_bench, lab_cursor, wait_replicated

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.control.lab.controller import LabController
from simhw.control.lab.exports import measurements_dataset, open_netcdf, to_csv, to_netcdf
from simhw.control.lab.lab_store import LabStore
from simhw.control.lab.replicator import Replicator
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent


def lab(dsn, *args, env=None):
    r = subprocess.run(
        [sys.executable, "-m", "simhw", "lab", *args], capture_output=True, text=True, timeout=120, env=env
    )
    return r.returncode, r.stdout, r.stderr


def test_queries_and_exports_across_two_benches(tmp_path, lab_dsn):
    a, b = lab_bench(tmp_path, "bench-a", lab_dsn), lab_bench(tmp_path, "bench-b", lab_dsn)
    x = PhaseConfig.random(4, 6, 6, 2, seed=5, name="x")
    with (
        embedded_daemon(a),
        embedded_daemon(b),
        DaemonClient(a.daemon.bind[0], timeout=60) as ca,
        DaemonClient(b.daemon.bind[0], timeout=60) as cb,
    ):
        for c in (ca, cb):
            c.push_measure(x)
            c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=6))
        for cfg in (a, b):
            wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
    with LabStore(lab_dsn) as store:
        by_prefix = store.query("measurement", config=x.hash[:12])  # what the dashboard shows
        assert sorted(r["bench"] for r in by_prefix) == ["bench-a", "bench-b"]
        assert {r["hash"] for r in by_prefix} == {x.hash}
        assert store.query("measurement", config=x.hash) != [] and by_prefix[0]["shape"] == [3, 2]
        (config,) = store.query("config", bench="bench-a", config=x.hash[:12])
        assert config["shape"] == [4, 6, 6]
        with pytest.raises(ValueError, match="hex digits"):
            store.query("measurement", config="not-a-hash")
        recs = store.query("measurement")
    ds = measurements_dataset(recs)
    assert set(ds.attrs["bench_files"]) == {"bench-a", "bench-b"}
    assert all(f'name = "{n}"' in ds.attrs["bench_files"][n] for n in ("bench-a", "bench-b"))
    assert "-1" in ds["model_calibration"].attrs["long_name"]
    nc = open_netcdf(to_netcdf(ds, tmp_path / "both.nc"))
    assert np.issubdtype(nc["time"].dtype, np.datetime64)
    created = sorted(r["created_at"] for r in recs)
    np.testing.assert_allclose(nc["epoch_s"].values, created)
    np.testing.assert_allclose(nc["time"].values.astype("datetime64[ns]").astype(np.int64) / 1e9, created, atol=1e-6)
    assert nc.attrs["bench_files"] == ds.attrs["bench_files"]
    rows = open(to_csv(recs, tmp_path / "m.csv")).read()
    assert "[geometry]" not in rows and len(rows.splitlines()) == 5  # no bench file repeated in every row

    rc, out, err = lab(
        lab_dsn, "query", "calibration", "--dsn", lab_dsn, "--export", str(tmp_path / "nothing"), "--format", "netcdf"
    )
    assert rc == 2 and "no calibration records match" in err and not (tmp_path / "nothing").exists()
    rc, out, err = lab(
        lab_dsn,
        "query",
        "measurement",
        "--dsn",
        lab_dsn,
        "--export",
        str(tmp_path / "bad"),
        "--format",
        "touchstone",
        "--config",
        "ffff",
    )
    assert rc == 2 and not (tmp_path / "bad").exists()
    rc, out, err = lab(lab_dsn, "query", "measurement", "--config", x.hash[:12], "--dsn", lab_dsn)
    assert rc == 0 and len(out.splitlines()) == 2, err


def test_init_takes_dsn_after_the_action_and_the_environment_pg_sh_sets(tmp_path, lab_dsn):
    rc, out, err = lab(lab_dsn, "init", "--dsn", lab_dsn)  # as docs/lab.md writes it
    assert rc == 0 and json.loads(out)["schema"] >= 1, err
    pg_sh = (ROOT / ".ci" / "pg.sh").read_text()
    assert "export SIMHW_LAB_DSN=" in pg_sh and "SIMHW_TEST_PG_DSN" not in pg_sh
    assert "$SIMHW_LAB_DSN" in (ROOT / "docs" / "lab.md").read_text()
    rc, out, err = lab(lab_dsn, "init", env={**__import__("os").environ, "SIMHW_LAB_DSN": lab_dsn})
    assert rc == 0, err


def test_lab_run_reports_a_calibration_that_did_not_finish_as_failed(tmp_path, lab_dsn):
    cfg = lab_bench(tmp_path, "bench-c", lab_dsn)
    cfg.calibration.stages, cfg.calibration.slots = 3, 60
    with (
        embedded_daemon(cfg),
        LabController(lab_dsn, timeout=60) as ctl,
        DaemonClient(cfg.daemon.bind[0], timeout=30) as c,
    ):
        wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
        result = {}
        t = threading.Thread(target=lambda: result.update(ctl.run(["bench-c"], job="calibrate", wait=120)))
        t.start()
        end = time.monotonic() + 60
        while time.monotonic() < end and not (c.status().get("job") or {}).get("job"):
            time.sleep(0.05)
        c.cancel(c.status()["job"]["job"])
        t.join(120)
    assert result["bench-c"]["ok"] is False and "cancelled" in result["bench-c"]["error"], result


def test_each_batch_moves_the_lab_cursor_so_a_new_replicator_resumes_after_it(tmp_path, lab_dsn):
    """Replication in batches smaller than the outbox: each step ships the next records and moves the
    lab's cursor with them; a new replicator (as after a crash) resumes at the lab's cursor and ships
    only what came after, so nothing is lost or shipped twice."""
    path = tmp_path / "store.sqlite"
    store = Store(path)

    def pushes(seeds):
        cfgs = [PhaseConfig.random(2, 3, 3, 2, seed=s) for s in seeds]
        store.record_pushes([(c, None, f"r{s}", True, c.to_bytes().decode()) for s, c in zip(seeds, cfgs)])

    def cursor():
        return lab_cursor(lab_dsn, "bench-r")

    pushes(range(5))
    head = store.outbox_head()
    rep = Replicator(str(path), lab_dsn, "bench-r", batch=3)
    shipped = [rep.step() for _ in range(5)]  # 10 records (5 configs, 5 pushes) in batches of 3
    assert sum(shipped) == head and shipped[-1] == 0 and max(shipped) <= 3
    assert cursor() == rep.cursor == head
    rep.close()
    pushes(range(5, 8))
    again = Replicator(str(path), lab_dsn, "bench-r", batch=100)
    assert again.step() == store.outbox_head() - head and again.step() == 0
    again.close()
    assert cursor() == store.outbox_head()
    counts = assert_lab_equals_store(lab_dsn, "bench-r", path)
    assert counts["pushes"] == 8
    store.close()
