"""The daemon's scheduler on a simulated clock the test advances: a day of bench time in seconds."""

import threading
import time

from drivers.bench import open_devices
from sim_backend.bench import SimBench
from simhw.control.bench_service import BenchService
from simhw.control.scheduler import Scheduler
from simhw.control.server import BenchServer
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig


def scheduled_bench(tmp_path, drift):
    cfg = BenchConfig(name="scheduler-test")
    cfg.sweep.points = 1
    cfg.sweep.start = cfg.sweep.stop = 28e9
    cfg.sweep.power = -68.0  # about 30 dB SNR: the residual floor is the receiver noise
    cfg.simulation.clock_speed = 0.0  # bench time moves only when the test advances it
    cfg.simulation.drift_k_per_hour = drift
    c = cfg.calibration
    c.parameterization, c.atom_gains = "hybrid", True
    c.stages, c.slots, c.heldout = 2, 120, 150
    c.period_s, c.check_every_s, c.residual_db, c.power_db = 3 * 3600.0, 1800.0, 3.0, 3.0
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    return cfg


def run_day(tmp_path, drift, hours=6):
    cfg = scheduled_bench(tmp_path, drift)
    with SimBench(cfg) as bench, open_devices(bench.resolved_config()) as (board, vna):
        store = Store(cfg.daemon.store)
        service = BenchService(bench.resolved_config(), board, vna, store, clock=bench.clock.now)
        service.scheduler = Scheduler(service)
        daemon = BenchServer(service)
        ready = threading.Event()
        t = threading.Thread(target=daemon.serve, args=(ready,), daemon=True)
        t.start()
        assert ready.wait(10)
        sched = service.scheduler

        def settle(deadline_s=60):
            """Wait until the scheduler has handled the current bench time."""
            end = time.monotonic() + deadline_s
            while time.monotonic() < end:
                now = bench.clock.now()
                if (
                    not sched.busy
                    and sched.last_check is not None
                    and sched.last_check >= now
                    and sched.last_periodic is not None
                ):
                    return
                time.sleep(0.02)
            raise AssertionError("scheduler did not catch up")

        settle()
        for _ in range(int(hours * 3600 / cfg.calibration.check_every_s)):
            bench.clock.advance(cfg.calibration.check_every_s)
            settle()
        daemon.stop()
        t.join(30)
        runs = [store.get_calibration(r["id"]) for r in reversed(store.list_calibrations(1000))]
        checks = store.events("indicators", 1000)
        store.close()
    return runs, checks


def test_drift_triggers_state_driven_recalibration_that_restores_the_model(tmp_path):
    runs, checks = run_day(tmp_path, drift=1.0)
    kinds = [r["protocol"] for r in runs]
    assert kinds[0] == "periodic-multi-stage" and "state-driven" in kinds, kinds
    assert all(r["status"] == "done" for r in runs)
    crossed = [e for e in checks if e["data"]["prediction_residual_db"]["crossed"]]
    assert crossed
    post_cal = runs[0]["metrics"]["heldout_nmse_db"]
    restored = [r["metrics"]["heldout_nmse_db"] for r in runs if r["protocol"] == "state-driven"]
    for r in runs:
        if r["protocol"] == "state-driven":
            assert "prediction_residual_db" in r["reason"] or "received_power_db" in r["reason"]
    print(
        f"post-calibration held-out NMSE {post_cal:.2f} dB; after each state-driven run: "
        + ", ".join(f"{r:.2f}" for r in restored)
    )
    assert all(abs(r - post_cal) <= 1.0 for r in restored), (post_cal, restored)


def test_without_drift_only_the_periodic_calibrations_run(tmp_path):
    runs, checks = run_day(tmp_path, drift=0.0)
    assert [r["protocol"] for r in runs] == ["periodic-multi-stage"] * 3  # t = 0, 3 h, 6 h
    assert len(checks) >= 10 and not any(v["crossed"] for e in checks for v in e["data"].values())
