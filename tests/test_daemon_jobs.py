"""Calibration jobs: refused or failed with a record, cancelled inside a fit, cancel ids scoped to live jobs."""

import sys
import time

import pytest
from daemon_helpers import Running, ipc_bench

from calibration.calibrator import Calibrator
from calibration.parameterization import bench_parameterization
from calibration.sources import FunctionSource
from sim_backend.true_sim import SimClock, TrueSIM
from simhw.app.embedded import embedded_daemon
from simhw.control import calibration_job
from simhw.control.calibration_job import Cancelled
from simhw.control.client import DaemonClient, DaemonError
from simhw.physics.geometry import FabricationErrors, SimGeometry


@pytest.fixture
def client(tmp_path):
    cfg = ipc_bench(tmp_path, "jobs")
    cfg.sweep.points = 1
    cfg.sweep.start = cfg.sweep.stop = 28e9
    cfg.calibration.parameterization, cfg.calibration.stages = "physical", 1
    cfg.calibration.slots, cfg.calibration.heldout = 20, 10
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
        yield c


def test_a_job_that_fails_before_its_result_leaves_a_failed_record_at_once(client, monkeypatch):
    def broken(daemon, params=None):
        raise ValueError("the bench file names no receive port")

    monkeypatch.setattr(calibration_job, "make_calibrator", broken)
    asked = []
    request = client.request
    client.request = lambda op, *a, **kw: asked.append((op, kw.get("model", True))) or request(op, *a, **kw)
    job = client.calibrate()
    record = client.wait_calibration(job, timeout=10)
    assert record["status"] == "failed" and "no receive port" in record["metrics"]["error"]
    assert ("calibration", True) not in asked  # polling downloaded no model


def test_cancel_ids_are_scoped_to_live_jobs(client):
    with pytest.raises(DaemonError, match="not_found"):
        client.cancel("never-started")
    job = client.calibrate(job="nightly")
    assert client.wait_calibration(job, timeout=60)["status"] == "done"
    with pytest.raises(DaemonError, match="not_found"):
        client.cancel("nightly")  # over: nothing to cancel, and nothing is remembered
    again = client.calibrate(job="nightly")  # the id used again is a new job, not cancelled at once
    assert client.wait_calibration(again, timeout=60)["status"] == "done"


def test_cancellation_is_seen_inside_a_fit():
    ideal = SimGeometry.uniform(4, 6, 6, 28e9, 0.01, n_outputs=2, input_distance=0.05)
    truth = TrueSIM(ideal, FabricationErrors.paper(0.0107).scaled(5.0), seed=1, clock=SimClock(speed=0.0))
    source = FunctionSource(
        lambda c, t: truth.response(c.reshape(-1, 4, 6, 6), 2, [28e9], t), [28e9], 2, (4, 6, 6), seed=0
    )
    cal = Calibrator(bench_parameterization("physical", ideal, 2), source, "gradient", heldout_slots=5)
    events = []

    def progress(ev):
        events.append(ev["kind"])
        if ev["kind"] == "iteration" and events.count("iteration") == 3:
            raise Cancelled("cancelled inside the fit")

    with pytest.raises(Cancelled):
        cal.calibrate(stages=2, slots=20, progress=progress)
    assert events.count("iteration") == 3 and "stage" not in events  # stopped in stage 1's fit, not after it


def test_a_job_that_does_not_stop_is_marked_interrupted_before_the_daemon_returns(tmp_path, monkeypatch):
    import threading
    import time

    release, started = threading.Event(), threading.Event()

    class Stuck:  # a calibrator blocked in I/O: cancellation cannot reach it
        par = type("P", (), {"name": "physical"})()
        estimator = None

        def calibrate(self, *a, **kw):
            started.set()
            release.wait(20)
            raise RuntimeError("released")

    monkeypatch.setattr(calibration_job, "make_calibrator", lambda daemon, params=None: Stuck())
    cfg = ipc_bench(tmp_path, "stuck")
    cfg.sweep.points = 1
    with Running(cfg, scheduled=False) as served, DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
        daemon, service = served.server, served.service
        daemon.stop_grace_s = 0.3
        c.calibrate()
        assert started.wait(10)
        t0 = time.monotonic()
        daemon.stop()
        for _ in range(100):  # bounded: the loop returns after two grace periods
            if service.store.list_calibrations()[0]["status"] == "interrupted":
                break
            time.sleep(0.05)
        assert service.store.list_calibrations()[0]["status"] == "interrupted"
        assert time.monotonic() - t0 < 5
        release.set()


def test_a_learned_estimator_calibration_stops_soon_after_its_cancel(client):
    """Its training simulates thousands of samples (minutes); each sample is a progress point."""
    job = client.calibrate(estimator="learned", job="learned-one")
    time.sleep(1.0)  # into the training
    assert client.status()["job"]["job"] == job
    t0 = time.monotonic()
    client.cancel(job)
    record = client.wait_calibration(job, timeout=30)
    stopped = time.monotonic() - t0
    print(f"learned-estimator calibration cancelled in {stopped:.2f} s", file=sys.stderr)
    assert record["status"] == "cancelled" and stopped < 10
