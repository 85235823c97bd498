"""The lab store on a real PostgreSQL (.ci/run starts it): replication from two benches' daemons, crashes
of both sides, queries, exports read by xarray and scikit-rf, and the controller running a job on both."""

import os
import signal
import time

import numpy as np
import pytest
from daemon_helpers import bench_file, daemon_process
from lab_helpers import assert_lab_equals_store, lab_bench, lab_cursor, pg_restart, store_head, wait_replicated

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient, DaemonError
from simhw.control.lab.controller import LabController
from simhw.control.lab.exports import measurements_dataset, open_netcdf, to_csv, to_netcdf, to_touchstone
from simhw.control.lab.lab_store import LabStore
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)


def exercise(client: DaemonClient, seed: int, pushes: int = 12) -> list:
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=seed * 100 + i, name=f"c{i}") for i in range(pushes)]
    client.push_many(configs)
    measured = []
    for c in configs[:3]:
        meta = client.push_measure(c)
        f, s = meta.frequencies, meta.s
        measured.append((c.hash, meta.id, f, s))
    client.tag(kind="measurement", target=str(measured[0][1]), tag="golden", operator="ann")
    client.tag(kind="config", target=configs[0].hash, tag="reference")
    return measured


def test_two_benches_replicate_into_one_lab_database_and_queries_return_their_arrays(tmp_path, lab_dsn):
    a, b = lab_bench(tmp_path, "bench-a", lab_dsn), lab_bench(tmp_path, "bench-b", lab_dsn)
    with (
        embedded_daemon(a),
        embedded_daemon(b),
        DaemonClient(a.daemon.bind[0], timeout=60) as ca,
        DaemonClient(b.daemon.bind[0], timeout=60) as cb,
    ):
        got_a, got_b = exercise(ca, 1), exercise(cb, 2)
        ca.wait_calibration(ca.calibrate(), timeout=300)
        for cfg in (a, b):
            wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
        st = ca.status()
        assert st["lab"]["connected"] and st["lab"]["lag_records"] == 0 and st["lab"]["shipped"] > 20
        counts = {cfg.name: assert_lab_equals_store(lab_dsn, cfg.name, cfg.daemon.store) for cfg in (a, b)}
    assert counts["bench-a"]["calibrations"] == 1 and counts["bench-b"]["calibrations"] == 0
    assert counts["bench-a"]["pushes"] == counts["bench-b"]["pushes"] == 15
    with LabStore(lab_dsn) as lab:
        assert [x["name"] for x in lab.benches()] == ["bench-a", "bench-b"]
        assert lab.benches()[0]["endpoints"]["bind"] == a.daemon.bind
        for cfg, got in (("bench-a", got_a), ("bench-b", got_b)):
            local = Store(a.daemon.store if cfg == "bench-a" else b.daemon.store)
            for hash_, mid, f, s in got:
                (rec,) = lab.query("measurement", bench=cfg, config=hash_)
                assert rec["id"] == mid
                mine = local.get_measurement(mid)
                assert np.array_equal(rec["s"], mine["s"]) and rec["s"].dtype == mine["s"].dtype
                assert np.array_equal(rec["frequencies"], f) and np.array_equal(rec["s"], s)
                assert (
                    rec["provenance"]["software"].startswith("simhw ")
                    and "[geometry]" in rec["provenance"]["bench_file"]
                )
            local.close()
        # a configuration measured on either bench, by its hash: none here is shared, so one bench answers
        assert {r["bench"] for r in lab.query("measurement", config=got_b[1][0])} == {"bench-b"}
        golden = lab.query("measurement", tag="golden")
        assert sorted((r["bench"], r["id"]) for r in golden) == [("bench-a", got_a[0][1]), ("bench-b", got_b[0][1])]
        assert golden[0]["provenance"]["operators"] == ["ann"] and golden[0]["tags"] == ["golden"]
        (ref,) = lab.query("config", bench="bench-a", tag="reference")
        assert ref["codes"].shape == (4, 6, 6)
        window = lab.query("measurement", bench="bench-a", since=0, until=time.time(), limit=2)
        assert len(window) == 2 and window[0]["created_at"] >= window[1]["created_at"]
        # a window around one measurement's time finds it, and only what was taken within the window
        mid = got_a[1][1]
        local = Store(a.daemon.store)
        t_mid = local.get_measurement(mid)["created_at"]
        local.close()
        near = lab.query("measurement", bench="bench-a", since=t_mid - 1e-3, until=t_mid + 1e-3)
        assert mid in [r["id"] for r in near]
        assert all(abs(_epoch(r["created_at"]) - t_mid) <= 1e-3 + 1e-6 for r in near)
        (cal,) = lab.query("calibration", bench="bench-a")
        assert cal["status"] == "done" and cal["model"][:2] == b"PK"
        assert lab.residual_history()[0]["heldout_nmse_db"] == pytest.approx(cal["metrics"]["heldout_nmse_db"])
        with pytest.raises(ValueError, match="unknown record kind"):
            lab.query("sweeps")


def _epoch(t) -> float:
    return t.timestamp() if hasattr(t, "timestamp") else float(t)


def replication_lag(dsn: str, bench: str, store_path) -> int:
    """Outbox records of ``bench``'s store the lab has not acknowledged yet (its cursor's distance to the head)."""
    return store_head(store_path) - lab_cursor(dsn, bench)


def test_a_killed_daemon_and_a_restarted_database_lose_and_duplicate_nothing(tmp_path, lab_dsn):
    """The database restarts and the daemon is killed while replication is behind (measured just before
    each: the lab's cursor short of the store's head), so both crashes hit batches in flight."""
    path, cfg = bench_file(tmp_path, lab__dsn=lab_dsn, lab__retry_s=0.2, lab__bench_id="crashy", lab__batch=50)
    endpoint = cfg.daemon.bind[0]
    lags = {}
    with daemon_process(path) as proc, DaemonClient(endpoint, timeout=60) as c:
        c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=99))
        wait_replicated(lab_dsn, "crashy", cfg.daemon.store)  # the bench is registered in the lab
        for round_ in range(6):  # pushes in flight while the database restarts mid-replication
            c.push_many([PhaseConfig.random(4, 6, 6, 2, seed=round_ * 1000 + i) for i in range(200)])
            if round_ == 2:
                lags["restart"] = replication_lag(lab_dsn, "crashy", cfg.daemon.store)
                pg_restart("immediate")
        lags["kill"] = replication_lag(lab_dsn, "crashy", cfg.daemon.store)
        os.kill(proc.pid, signal.SIGKILL)  # no clean stop: the replicator dies with the daemon
        proc.wait(30)
    assert lags["restart"] > 0 and lags["kill"] > 0, lags  # both crashes hit replication in flight
    with daemon_process(path), DaemonClient(endpoint, timeout=60) as c:
        c.push_many([PhaseConfig.random(4, 6, 6, 2, seed=5000 + i) for i in range(100)])
        wait_replicated(lab_dsn, "crashy", cfg.daemon.store, timeout=120)
        lab_status = c.status()["lab"]
    counts = assert_lab_equals_store(lab_dsn, "crashy", cfg.daemon.store)
    assert counts["pushes"] == 1301 and counts["measurements"] == 1
    assert counts["snapshots"] == 2  # one per daemon start
    assert lab_status["lag_records"] == 0


def test_exports_load_in_xarray_and_scikit_rf_with_the_same_values(tmp_path, lab_dsn):
    skrf = pytest.importorskip("skrf")
    cfg = lab_bench(tmp_path, "bench-x", lab_dsn)
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        for i in range(4):
            c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=i))
        wait_replicated(lab_dsn, "bench-x", cfg.daemon.store)
    with LabStore(lab_dsn) as lab:
        recs = lab.query("measurement", bench="bench-x")
    ds = measurements_dataset(recs)
    assert ds["s"].shape == (4, 3, 2) and list(ds["port"].values) == ["S21", "S31"]
    nc = open_netcdf(to_netcdf(ds, tmp_path / "series.nc"))
    np.testing.assert_array_equal(nc["s"].values, ds["s"].values)
    assert list(nc["config"].values) == [r["hash"] for r in sorted(recs, key=lambda r: r["created_at"])]
    assert "[geometry]" in nc.attrs["bench_files"]["bench-x"]
    first = sorted(recs, key=lambda r: r["created_at"])[0]
    net = skrf.Network(to_touchstone(first, tmp_path / "first"))
    np.testing.assert_allclose(net.f, nc["frequency"].values)
    np.testing.assert_allclose(net.s[:, 1, 0], nc["s"].values[0, :, 0], rtol=1e-11)
    np.testing.assert_allclose(net.s[:, 2, 0], nc["s"].values[0, :, 1], rtol=1e-11)
    text = open(to_csv(recs, tmp_path / "m.csv")).read().splitlines()
    assert len(text) == 5 and text[0].startswith("bench,")


def test_the_controller_runs_a_job_on_both_benches_by_name(tmp_path, lab_dsn):
    a, b = lab_bench(tmp_path, "left", lab_dsn), lab_bench(tmp_path, "right", lab_dsn)
    with embedded_daemon(a), embedded_daemon(b), LabController(lab_dsn, timeout=60) as lab:
        for cfg in (a, b):
            wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
        status = lab.status()
        assert set(status) == {"left", "right"} and all(s["ok"] for s in status.values())
        assert status["left"]["result"]["lab"]["bench"] == "left"
        done = lab.run(job="calibrate", stages=1, slots=20)
        assert all(r["ok"] and r["result"]["status"] == "done" for r in done.values()), done
        for cfg in (a, b):
            wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
        again = lab.recalibrate_where(lambda r: r["metrics"]["heldout_nmse_db"] > -1000, stages=1, slots=20)
        assert again["benches"] == ["left", "right"]
        with pytest.raises(KeyError, match="no bench 'middle'"):
            lab.client("middle")
        with pytest.raises(DaemonError):
            lab.client("left").request("tag", kind="measurement", target="999", tag="x")
    with LabStore(lab_dsn) as store:
        for name, r in done.items():
            (rec,) = [x for x in store.query("calibration", bench=name) if x["id"] == r["result"]["id"]]
            assert rec["status"] == "done"


def test_the_lab_command_line_queries_and_exports(tmp_path, lab_dsn):
    import json
    import subprocess
    import sys

    cfg = lab_bench(tmp_path, "bench-cli", lab_dsn)
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        hashes = [c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=i)).config_hash for i in range(3)]
        wait_replicated(lab_dsn, "bench-cli", cfg.daemon.store)

    def lab(*args):
        r = subprocess.run(
            [sys.executable, "-m", "simhw", "lab", "--dsn", lab_dsn, *args], capture_output=True, text=True, timeout=120
        )
        return r.returncode, r.stdout, r.stderr

    rc, out, err = lab("query", "measurement", "--bench", "bench-cli", "--config", hashes[1], "--since", "2020-01-01")
    assert rc == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["hash"] == hashes[1] and rec["bench"] == "bench-cli"
    rc, out, err = lab("query", "measurement", "--export", str(tmp_path / "x"), "--format", "netcdf")
    assert rc == 0 and out.strip().endswith("measurements.nc"), err
    assert open_netcdf(out.strip())["s"].shape == (3, 3, 2)
    rc, out, err = lab("benches")
    assert rc == 0 and out.startswith("bench-cli")
    rc, out, err = lab("query", "measurement", "--since", "yesterday")
    assert rc == 2 and "not a time: 'yesterday'" in err
