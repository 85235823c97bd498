"""Bluesky over the bench daemon: a RunEngine plan sets configurations on the simulated bench's board
through a real daemon (loopback tcp) and measures each with the VNA device; the documents carry the
configuration hashes and the S-parameters the daemon's store holds."""

import numpy as np
import pytest
from daemon_helpers import bench_file, daemon_process

pytest.importorskip("ophyd_async")
pytest.importorskip("bluesky")
from bluesky import RunEngine  # noqa: E402
from ophyd_async.core import NotConnectedError, init_devices  # noqa: E402

from simhw.control.client import DaemonClient  # noqa: E402
from simhw.control.store import Store  # noqa: E402
from simhw.integrations.ophyd import SimBoard, SimCalibration, SimVNA  # noqa: E402
from simhw.integrations.plans import calibrate, scan_configs  # noqa: E402
from simhw.values.phase_config import PhaseConfig  # noqa: E402


def test_a_plan_sets_three_configurations_and_measures_each(tmp_path):
    path, cfg = bench_file(tmp_path)
    endpoint = cfg.daemon.bind[0]
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=s, name=f"cfg{s}") for s in (11, 12, 13)]
    RE = RunEngine({})
    docs = []
    with daemon_process(path):
        with DaemonClient(endpoint, timeout=30) as c:  # the third is stored before: the plan names it
            c.push(configs[2])
            c.push(configs[0])
        with init_devices():
            board = SimBoard(endpoint)
            vna = SimVNA(endpoint)
        try:
            RE(scan_configs(board, vna, [configs[0], configs[1], "cfg13"]), lambda name, doc: docs.append((name, doc)))
        finally:
            board.close()
            vna.close()
    names = [n for n, _ in docs]
    assert names == ["start", "descriptor", "event", "event", "event", "stop"], names
    start, descriptor, events, stop = docs[0][1], docs[1][1], [d for n, d in docs if n == "event"], docs[-1][1]
    assert stop["exit_status"] == "success" and start["configs"] == [configs[0].hash, configs[1].hash, "cfg13"]
    keys = descriptor["data_keys"]
    assert keys["vna-s"]["shape"] == [3, 2] and keys["vna-s"]["dtype_numpy"] == "<c16"
    freqs = descriptor["configuration"]["vna"]["data"]["vna-frequencies"]
    store = Store(cfg.daemon.store)
    try:
        for event, config in zip(events, configs):
            data = event["data"]
            assert data["board-config_hash"] == data["vna-config_hash"] == config.hash
            assert data["board-latch_count"] > 0
            stored = store.get_measurement(data["vna-measurement"])
            np.testing.assert_array_equal(data["vna-s"], stored["s"])
            np.testing.assert_array_equal(freqs, stored["frequencies"])
            assert stored["hash"] == config.hash
        latches = [e["data"]["board-latch_count"] for e in events]
        assert latches == sorted(set(latches))  # every set latched on the board again
    finally:
        store.close()


def test_devices_do_no_io_when_built_and_connect_fails_clearly_without_a_daemon(tmp_path):
    RE = RunEngine({})  # noqa: F841 - init_devices connects on the RunEngine's loop
    built = SimBoard(f"ipc://{tmp_path}/nobody.ipc", name="board", timeout=0.5)  # nothing opened yet
    assert built._session.client is None
    with pytest.raises(NotConnectedError, match="timeout"):
        with init_devices():
            board = SimBoard(f"ipc://{tmp_path}/nobody.ipc", timeout=0.5)
    assert board._session.client is None  # the failed connect closed its client
    board.close()
    built.close()


@pytest.mark.slow
def test_a_calibration_runs_as_a_flyable_inside_a_plan(tmp_path):
    import bluesky.preprocessors as bpp

    path, cfg = bench_file(tmp_path)
    endpoint = cfg.daemon.bind[0]
    RE = RunEngine({})
    docs = []
    with daemon_process(path):
        with init_devices():
            cal = SimCalibration(endpoint, stages=1, slots=30)
        try:
            RE(bpp.run_wrapper(calibrate(cal)), lambda name, doc: docs.append((name, doc)))
        finally:
            cal.close()
        with DaemonClient(endpoint, timeout=30) as c:
            record = c.calibrations(limit=1)[0]
    (event,) = [d for n, d in docs if n == "event"]
    assert event["data"]["cal-calibration"] == record["id"] and event["data"]["cal-status"] == "done"
    assert event["data"]["cal-heldout_nmse_db"] < -10
