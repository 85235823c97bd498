"""``.mat`` on the command line: configurations written by MATLAB pushed, measurements and models written
(``simhw measure --mat``, ``simhw calibrate --mat`` locally and through the daemon), and lab records exported (``simhw lab query --format
mat``), each read back equal to what the store holds."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from daemon_helpers import bench_file, daemon_process
from lab_helpers import lab_bench, wait_replicated

from calibration.calibrated import CalibratedModel
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.control.lab.lab_store import LabStore
from simhw.control.store import Store
from simhw.integrations import matlab
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig


def simhw(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "simhw", *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_push_a_matlab_file_measure_and_calibrate_to_mat_files(tmp_path):
    path, cfg = bench_file(tmp_path)
    endpoint = cfg.daemon.bind[0]
    codes = np.random.default_rng(5).integers(0, 4, (6, 6, 4, 2)).astype(float)  # MATLAB: codes(r, c, l, t)
    names = np.empty((1, 2), dtype=object)
    names[0, :] = ["first", "second"]
    scipy.io.savemat(tmp_path / "two.mat", {"codes": codes, "bits": 2.0, "names": names})
    with daemon_process(path):
        out = simhw("push", str(tmp_path / "two.mat"), "--endpoint", endpoint)
        assert out.count("acknowledged") == 2
        nowhere = tmp_path / "missing" / "m.mat"  # refused before the bench is swept, naming the user's path
        r = subprocess.run(
            [sys.executable, "-m", "simhw", "measure", "--endpoint", endpoint, "--mat", str(nowhere)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and r.stderr.strip() == (
            f"simhw: error: cannot write {nowhere}: the directory {nowhere.parent} does not exist"
        ), r.stderr
        with DaemonClient(endpoint, timeout=30) as c:
            assert c.measurements() == []
        out = simhw("measure", "--endpoint", endpoint, "--mat", str(tmp_path / "m.mat"))
        assert out.strip().endswith(f"mat: {tmp_path / 'm.mat'}")
        with DaemonClient(endpoint, timeout=30) as c:
            assert c.status()["active_hash"] == PhaseConfig(np.transpose(codes[..., 1], (2, 0, 1)), 2).hash
        out = simhw("calibrate", "--endpoint", endpoint, "--mat", str(tmp_path / "model.mat"))
        assert f"MATLAB model: {tmp_path / 'model.mat'}" in out
        with DaemonClient(endpoint, timeout=30) as c:
            (record,) = c.calibrations(limit=1)
            stored_model = CalibratedModel.from_bytes(c.calibration(record["id"])[1])
        assert matlab.read_model(tmp_path / "model.mat").hash == stored_model.hash
    m = matlab.load_measurement(tmp_path / "m.mat")
    f, s, meta = m.frequencies, m.s, m.record()
    store = Store(cfg.daemon.store)
    try:
        stored = store.get_measurement(m.id)
        assert [c["name"] for c in store.list_configs()][:2] == ["second", "first"]
    finally:
        store.close()
    np.testing.assert_array_equal(f, stored["frequencies"])
    np.testing.assert_array_equal(s, stored["s"])
    assert meta["hash"] == stored["hash"]


def test_calibrate_writes_its_model_as_a_mat_file(tmp_path):
    out = simhw(
        "calibrate",
        "--parameterization",
        "physical",
        "--stages",
        "1",
        "--slots",
        "30",
        "--heldout",
        "10",
        "--models",
        str(tmp_path / "models"),
        "--mat",
        str(tmp_path / "model.mat"),
    )
    assert f"MATLAB model: {tmp_path / 'model.mat'}" in out
    saved = CalibratedModel.load(tmp_path / "models" / "model-v0001.npz")
    back = matlab.read_model(tmp_path / "model.mat")
    assert back.hash == saved.hash and back.metrics == saved.metrics


@pytest.mark.timeout(300)
def test_lab_query_exports_mat_files(tmp_path, lab_dsn):
    cfg = lab_bench(tmp_path, "bench-mat", lab_dsn)
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=i, name=f"lab{i}") for i in range(2)]
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        for config in configs:
            c.push_measure(config)
        c.wait_calibration(c.calibrate(), timeout=240)
        wait_replicated(lab_dsn, "bench-mat", cfg.daemon.store)
    base = ["lab", "--dsn", lab_dsn, "query"]
    paths = simhw(*base, "measurement", "--export", str(tmp_path / "m"), "--format", "mat").split()
    with LabStore(lab_dsn) as lab:
        records = {r["id"]: r for r in lab.query("measurement", bench="bench-mat")}
        (cal,) = lab.query("calibration", bench="bench-mat")
    assert len(paths) == len(records) >= 2
    for p in paths:
        f, s, meta = matlab.read_measurement(p)
        rec = records[meta["id"]]
        assert matlab.load_measurement(p).record() == Measurement.from_record(rec, f, s).record()
        np.testing.assert_array_equal(s, rec["s"])
        np.testing.assert_array_equal(f, rec["frequencies"])
        assert meta["hash"] == rec["hash"] and meta["bench"] == "bench-mat"
    (path,) = simhw(*base, "calibration", "--export", str(tmp_path / "c"), "--format", "mat").split()
    assert matlab.read_model(path).hash == CalibratedModel.from_bytes(cal["model"]).hash
    (path,) = simhw(*base, "config", "--export", str(tmp_path / "k"), "--format", "mat").split()
    exported = {c.hash: c for c in matlab.read_configs(path)}
    for config in configs:
        assert exported[config.hash].metadata == config.metadata


def test_calibrate_refuses_a_mat_path_in_a_missing_directory_before_calibrating(tmp_path):
    nowhere = tmp_path / "missing" / "model.mat"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "simhw",
            "calibrate",
            "--parameterization",
            "physical",
            "--stages",
            "1",
            "--slots",
            "30",
            "--heldout",
            "10",
            "--models",
            str(tmp_path / "models"),
            "--mat",
            str(nowhere),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and r.stderr.strip() == (
        f"simhw: error: cannot write {nowhere}: the directory {nowhere.parent} does not exist"
    ), r.stderr
    assert not (tmp_path / "models").exists()  # nothing was calibrated
