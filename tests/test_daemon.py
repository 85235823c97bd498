"""A real bench daemon process on the simulated bench, driven by the client over tcp and ipc."""

import threading
import time

import numpy as np
import pytest
import zmq
from daemon_helpers import bench_file, daemon_process

from calibration.calibrated import CalibratedModel
from sim_backend.bench import make_truth
from simhw.control import schema
from simhw.control.client import DaemonClient, DaemonError, DaemonTimeout
from simhw.control.store import Store
from simhw.control.telemetry import StateWatcher, subscribe
from simhw.values.phase_config import PhaseConfig


@pytest.mark.parametrize("transport,board_link,busy_poll_us", [("tcp", "pty", 0), ("ipc", "inproc", 500)])
def test_every_request_type(tmp_path, transport, board_link, busy_poll_us):
    """Every request type over tcp and over ipc; the simulated board on a pty, or embedded in the
    daemon with the loop busy-polling after requests."""
    path, cfg = bench_file(tmp_path, simulation__transport=board_link, daemon__busy_poll_us=busy_poll_us)
    endpoint = cfg.daemon.bind[0 if transport == "tcp" else 1]
    with daemon_process(path) as proc, DaemonClient(endpoint, timeout=20) as c:
        st = c.status()
        assert st["board"]["shape"] == [4, 6, 6] and st["schema"] == schema.SCHEMA_VERSION
        a, b = PhaseConfig.random(4, 6, 6, 2, seed=1, name="a"), PhaseConfig.random(4, 6, 6, 2, seed=2, name="b")
        first = c.push(a)
        again = c.push(a)
        assert first["applied"] and not again["applied"] and first["hash"] == again["hash"] == a.hash
        meta = c.push_measure(b)
        f, s = meta.frequencies, meta.s
        assert meta.push["applied"] and meta.config_hash == b.hash and s.shape == (3, 2) and f.shape == (3,)
        meta2 = c.measure()
        _f2, s2 = meta2.frequencies, meta2.s
        assert meta2.config_hash == b.hash
        # only the VNA's noise differs: magnitude and phase are the simulated SIM's (its seed is the bench file's)
        truth = make_truth(cfg).response(b.codes, 2, f)
        np.testing.assert_allclose(s, truth, rtol=1e-3)
        np.testing.assert_allclose(s2, truth, rtol=1e-3)
        assert np.max(np.abs(np.angle(s2 / truth))) < 1e-3
        assert {x["hash"] for x in c.configs()} == {a.hash, b.hash}
        assert c.config(a.hash) == a
        assert [p["hash"] for p in c.pushes()] == [a.hash, a.hash, b.hash]
        ms = c.measurements()
        assert len(ms) == 2
        mm = c.measurement(meta2.id)
        np.testing.assert_array_equal(mm.s, s2)
        assert mm.config_hash == b.hash
        job = c.calibrate(stages=1, slots=30)
        done = c.wait_calibration(job, timeout=60)
        assert (
            done["status"] == "done"
            and done["metrics"]["heldout_nmse_db"] < done["metrics"]["initial_heldout_nmse_db"] - 10
        )
        record, model = c.calibration(done["id"])
        assert CalibratedModel.from_bytes(model).parameterization == "physical"
        assert c.calibrations()[0]["id"] == done["id"]
        long_job = c.calibrate(stages=50, slots=40)
        time.sleep(0.3)
        c.cancel(long_job)
        assert c.wait_calibration(long_job, timeout=60)["status"] == "cancelled"
        assert c.status()["job"] is None
        # errors are replies with a code, not silence
        with pytest.raises(DaemonError, match="unknown_op"):
            c.request("reboot")
        with pytest.raises(DaemonError, match="bad_request"):
            c.push(PhaseConfig.random(3, 6, 6, 2, seed=0))
        with pytest.raises(DaemonError, match="not_found"):
            c.config("0" * 64)
        # after a calibration the board shows pilots: re-pushing `a` applies it again
        assert c.push(a)["applied"]
    assert proc.returncode == 0
    store = Store(cfg.daemon.store)
    assert store.count("pushes") == 4 and store.count("measurements") == 2
    assert [c["status"] for c in store.list_calibrations()] == ["cancelled", "done"]
    snap = store.get_snapshot(store.get_calibration(1)["snapshot"])
    assert "daemon-test" in snap["bench"] and snap["software"].startswith("simhw ")
    store.close()


def test_telemetry_reaches_subscribers(tmp_path):
    path, cfg = bench_file(tmp_path)
    with daemon_process(path), DaemonClient(cfg.daemon.bind[0]) as c:
        seen = []
        for topic, _data in subscribe(cfg.daemon.publish, timeout=5, limit=50):
            seen.append(topic)
            if topic == "heartbeat" and "push" not in seen:
                c.push(PhaseConfig.random(4, 6, 6, 2, seed=len(seen)))
            if "push" in seen and seen.count("heartbeat") >= 2:
                break
        assert "heartbeat" in seen and "push" in seen


def test_jobs_run_in_arrival_order_and_pushes_are_refused_while_a_calibration_holds_the_bench(tmp_path):
    """Pushes run on the daemon's loop, other jobs on its worker; the board still sees one client's jobs in
    the order it sent them: a measure sent between pushes measures the push before it. During a
    calibration a measure waits for it, and pushes are refused ``busy`` at once (none is applied later)."""
    path, cfg = bench_file(tmp_path)
    a, b, c3 = (PhaseConfig.random(4, 6, 6, 2, seed=s) for s in (11, 12, 13))
    with daemon_process(path), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        rids = [
            c.send("push", config=a.to_bytes().decode()),
            c.send("push", config=b.to_bytes().decode()),
            c.send("measure"),
            c.send("push", config=c3.to_bytes().decode()),
        ]
        replies = {rid: c.receive(rid) for rid in rids}
        assert [replies[r].header["hash"] for r in rids] == [a.hash, b.hash, b.hash, c3.hash]
        job = c.calibrate(stages=1, slots=60)
        rids = [c.send("push", config=a.to_bytes().decode()), c.send("measure")]
        replies = {m.id: m for m in (c.receive(None, raise_errors=False) for _ in rids)}
        assert replies[rids[0]].header["error"]["code"] == "busy"
        done = c.wait_calibration(job, timeout=60)
        assert done["status"] == "done" and replies[rids[1]].ok
        measured = c.measurements(limit=1)[0]
        assert (
            measured["id"] == replies[rids[1]].header["measurement"] and measured["created_at"] >= done["finished_at"]
        )
        assert [p["hash"] for p in c.pushes()] == [a.hash, b.hash, c3.hash]


def test_client_times_out_and_recovers_when_the_daemon_is_down(tmp_path):
    path, cfg = bench_file(tmp_path)
    c = DaemonClient(cfg.daemon.bind[0], timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(DaemonTimeout, match="daemon down or busy"):
        c.status()
    assert time.monotonic() - t0 < 2
    with daemon_process(path):  # the same client works once the daemon is up
        c.timeout = 20
        assert c.status()["board"]["bits"] == 2
    c.close()


def test_malformed_messages_get_errors_and_the_daemon_stays_correct(tmp_path):
    path, cfg = bench_file(tmp_path)
    rng = np.random.default_rng(0)
    good = schema.request("status", "x")
    ctx = zmq.Context.instance()
    with daemon_process(path) as proc:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(cfg.daemon.bind[0])
        variants = [
            lambda: [rng.bytes(int(rng.integers(0, 40)))],  # garbage
            lambda: good[:1],  # truncated: no header
            lambda: [b"simhw/9", good[1]],  # wrong version
            lambda: [good[0], rng.bytes(50)],  # header not JSON
            lambda: [good[0], b'{"op":"push","id":"a","config":7}'],  # bad field
            lambda: [good[0], b'{"op":"status","arrays":[{"dtype":"<f8","shape":[3]}]}', b"12"],  # frame size mismatch
            lambda: [good[0], b'{"op":"status","arrays":[{"dtype":"|O","shape":[1]}]}', b"1234"],  # object dtype
            lambda: [good[0], b'{"op":"status","id":"' + b"x" * 100 + b'"}'],  # id too long
            lambda: [good[0], b"[" * 70000],  # oversized header
            lambda: [good[0], b'{"op":"measurement","measurement":"1; DROP TABLE"}'],
        ]
        sent = 10_000
        for i in range(sent):
            sock.send_multipart(variants[i % len(variants)]())
        replies, deadline = 0, time.monotonic() + 60
        while replies < sent and time.monotonic() < deadline:
            if sock.poll(2000):
                frames = sock.recv_multipart()
                if frames[0] == b"":  # an empty first frame reads as a REQ envelope, answered as one
                    frames = frames[1:]
                msg = schema.decode(frames)
                assert not msg.ok and msg.header["error"]["code"] in schema.ERROR_CODES
                replies += 1
            else:
                break
        assert replies == sent  # every one answered with an error
        sock.close()
        with DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
            cfg_a = PhaseConfig.random(4, 6, 6, 2, seed=5)
            assert c.push(cfg_a)["applied"]
            st = c.status()
            assert st["active_hash"] == cfg_a.hash and st["counters"]["errors"] >= sent
    assert proc.returncode == 0


def test_state_watcher_resynchronises_after_the_daemon_is_killed(tmp_path):
    path, cfg = bench_file(tmp_path)
    watcher = StateWatcher(cfg.daemon.bind[0], cfg.daemon.publish, lost_after=1.0)
    seen = []

    def follow():
        for kind, data in watcher.follow(duration=90):
            seen.append((kind, data))

    def wait_for(pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(k, d) for k, d in list(seen)):
                return True
            time.sleep(0.05)
        return False

    x, y = PhaseConfig.random(4, 6, 6, 2, seed=71), PhaseConfig.random(4, 6, 6, 2, seed=72)
    th = threading.Thread(target=follow, daemon=True)
    with daemon_process(path) as proc:
        th.start()
        assert wait_for(lambda k, d: k == "state")
        with DaemonClient(cfg.daemon.bind[0]) as c:
            ack_x = c.push(x)
        assert wait_for(lambda k, d: k == "push" and d["pushes"][-1]["hash"] == x.hash)
        proc.kill()
        proc.wait()
        assert wait_for(lambda k, d: k == "lost")
    with daemon_process(path), DaemonClient(cfg.daemon.bind[0]) as c:
        assert wait_for(
            lambda k, d: (
                k == "state"
                and d["last_push"] >= ack_x["push"]
                and any(kk == "lost" for kk, _ in seen[: seen.index((k, d))])
            )
        )
        ack_y = c.push(y)
        assert wait_for(lambda k, d: k == "push" and d["pushes"][-1]["hash"] == y.hash)
    watcher.stop()  # even while it waits for a daemon that is gone
    th.join(10)
    assert not th.is_alive()
    kinds = [k for k, _ in seen]
    lost = kinds.index("lost")
    resync = kinds.index("state", lost)  # the full state is read again before any update is passed on
    assert all(k in ("state", "heartbeat", "lost") for k in kinds[lost:resync])
    state = seen[resync][1]
    assert state["last_push"] >= ack_x["push"]  # the restarted daemon's state covers what was acknowledged
    y_at = next(i for i, (k, d) in enumerate(seen) if k == "push" and d["pushes"][-1]["hash"] == y.hash)
    assert y_at > resync and ack_y["push"] > ack_x["push"]
