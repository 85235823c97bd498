"""SIGKILL the daemon at random points during pushes and calibration: nothing acknowledged is lost."""

import os
import signal
import threading
import time

import numpy as np
from daemon_helpers import bench_file, daemon_process

from simhw.control.client import DaemonClient, DaemonError
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig


def pusher(endpoint, acks, stop, seed):
    rng = np.random.default_rng(seed)
    with DaemonClient(endpoint, timeout=3) as c:
        pending = {}
        try:
            while not stop.is_set() and len(acks) < 5000:
                while len(pending) < 16:
                    cfg = PhaseConfig.random(4, 6, 6, 2, seed=int(rng.integers(1 << 30)))
                    pending[c.send("push", config=cfg.to_bytes().decode())] = cfg.hash
                msg = c.receive(None)
                if msg.id in pending:
                    acks.append((msg.id, pending.pop(msg.id), msg.header["push"]))
        except DaemonError:  # the daemon died under us: expected
            pass


def test_sigkill_during_pushes_and_calibration_loses_no_acknowledged_record(tmp_path):
    path, cfg = bench_file(tmp_path, period_s=3600.0, stages=3, slots=40)
    rng = np.random.default_rng(7)
    all_acks = []
    for round_ in range(20):
        acks, stop = [], threading.Event()
        with daemon_process(path) as proc:
            with DaemonClient(cfg.daemon.bind[0], timeout=10) as c:
                if round_ % 4 == 1:
                    c.calibrate(stages=20, slots=40)  # killed mid-calibration
            t = threading.Thread(target=pusher, args=(cfg.daemon.bind[0], acks, stop, round_), daemon=True)
            t.start()
            time.sleep(float(rng.uniform(0.2, 0.8)))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            stop.set()
            t.join(10)
        all_acks += acks
        store = Store(cfg.daemon.store)  # opens (and recovers the WAL) after every kill
        stored = {p["request_id"]: (p["hash"], p["id"]) for p in store.pushes()}
        missing = [a for a in all_acks if stored.get(a[0]) != (a[1], a[2])]
        assert not missing, f"round {round_}: {len(missing)} acknowledged pushes missing"
        store.close()
    assert len(all_acks) > 100
    store = Store(cfg.daemon.store)
    cals = store.list_calibrations(1000)
    # the periodic calibration ran once at the first start; restarts resumed the schedule instead of re-running it
    assert sum(c["protocol"].startswith("periodic") for c in cals) == 1
    assert all(c["status"] in ("done", "interrupted", "cancelled", "running") for c in cals)
    assert sum(c["status"] == "running" for c in cals) <= 1  # only a run the last kill interrupted
    assert store.get_state("scheduler")["last_periodic"] is not None
    store.close()
