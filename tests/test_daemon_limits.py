"""What one request may hold and what one reply may carry: paged listings filled to their declared
maximum, bounded strings, the right error code for every fault of a request, calibration limits,
a store-full calibration, one client's queue, through the client and the dashboard."""

import json
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import zmq
from daemon_helpers import keys, small_bench
from dashboard_helpers import http

from simhw.app.dashboard.gateway import Gateway
from simhw.app.dashboard.tokens import issue_token
from simhw.app.embedded import embedded_daemon
from simhw.control import schema
from simhw.control.client import DaemonClient, DaemonError, DaemonTimeout
from simhw.control.operations import LIMIT
from simhw.control.store import StoreFull
from simhw.values.phase_config import PhaseConfig

MOST = LIMIT.hi  # the largest `limit` a listing declares


def config(seed, **meta):
    return PhaseConfig.random(4, 6, 6, bits=2, seed=seed, **meta)


@pytest.fixture
def served(tmp_path):
    return small_bench(tmp_path, "limits")


def _raw(endpoint, header: bytes) -> dict:
    """Send one raw header frame from a DEALER; the reply's header."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart([schema.MAGIC, header])
        assert sock.poll(20_000)
        return json.loads(sock.recv_multipart()[1])
    finally:
        sock.close()


def test_every_listing_filled_to_its_declared_maximum_reads_back_through_client_and_dashboard(served):
    longest = "r" * 64  # request ids, job ids and event kinds at their bound; names and tags at theirs
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        store = service.store
        store.record_pushes([(config(i, name=f"{i:06d}" + "n" * 194), None, longest, True) for i in range(MOST)])
        for i in range(MOST):
            store.event(longest, {"error": "e" * 200, "i": i})
        with store.atomic() as db:
            db.executemany(
                "INSERT INTO calibrations (protocol, reason, params, status, started_at) VALUES (?, ?, ?, ?, ?)",
                [
                    ("requested", "requested", json.dumps({"job": longest[:-6] + f"{i:06d}"}), "done", time.time())
                    for i in range(MOST)
                ],
            )
            db.executemany(
                "INSERT INTO measurements (hash, params, frequencies, s, shape, created_at, settings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(None, json.dumps(["S21", "S31"]), b"", b"", "[3, 2]", time.time(), "{}") for _ in range(MOST)],
            )
        pushes = c.pushes(limit=MOST)
        assert [p["id"] for p in pushes] == list(range(1, MOST + 1))  # oldest first, none missing
        configs = c.configs(limit=MOST)
        assert len({r["hash"] for r in configs}) == MOST and configs[0]["name"].startswith(f"{MOST - 1:06d}")
        calibrations = c.calibrations(limit=MOST)
        assert [r["id"] for r in calibrations] == list(range(MOST, 0, -1))
        assert len(c.events(kind=longest, limit=MOST)) == MOST and len(c.measurements(limit=MOST)) == MOST
        one = c.request("pushes", limit=MOST).header  # one reply: a page that fits, and where the rest starts
        assert 0 < len(one["pushes"]) < MOST and one["next"] == one["pushes"][0]["id"]
        gw = Gateway(served.daemon.bind[0], served.daemon.publish, port=0).start()
        try:
            for path in ("pushes", "configs", "calibrations", "measurements", "events"):
                status, body = http(gw.url + f"api/{path}?limit=1000")
                assert status == 200 and len(json.loads(body)) == 1000, (path, status, body[:200])
        finally:
            gw.stop()
        assert c.ping()["version"]


def test_strings_a_client_would_have_stored_are_bounded_at_the_request(served):
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        with pytest.raises(DaemonError, match="bad_request.*'name' has 34000 characters"):
            c.push(config(1, name="n" * 34_000))
        with pytest.raises(DaemonError, match="bad_request.*'job': a string of at most 64"):
            c.calibrate(job="j" * 34_000)
        pushed = c.push(config(2))
        for field, value in (("tag", "t" * 201), ("operator", "o" * 65)):
            with pytest.raises(DaemonError, match=f"bad_request.*'{field}'"):
                c.tag("push", str(pushed["push"]), **{"tag": "ok", field: value})
        assert c.configs() and c.calibrations() == [] and c.status()["job"] is None
        assert service.store.count("configs") == 1


def test_faults_of_the_request_are_bad_requests_and_never_touch_the_hardware(served):
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        ep = served.daemon.bind[0]
        deep = b'{"op":"status","id":"d","x":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
        assert _raw(ep, deep)["error"]["code"] == "bad_message"
        line = (
            config(3)
            .to_bytes()
            .decode()
            .replace('"metadata":{', '"metadata":{"extra":' + "[" * 5000 + "]" * 5000 + ",", 1)
        )
        assert (
            _raw(ep, json.dumps({"op": "push", "id": "n", "config": line}).encode())["error"]["code"] == "bad_request"
        )
        for op, field in (("measurement", "measurement"), ("calibration", "calibration")):
            for big in (2**63, 2**64 + 5):
                reply = _raw(ep, json.dumps({"op": op, "id": "i", field: big}).encode())
                assert reply["error"]["code"] == "bad_request", (op, big, reply)
        pushed = c.push(config(4))
        reply = _raw(ep, json.dumps({"op": "tag", "kind": "push", "target": str(pushed["push"]), "tag": "x"}).encode())
        assert reply["ok"] and reply["tag"]["tag"] == "x"  # no id: tagged without an operator, not a crash
        with pytest.raises(DaemonError, match="bad_request.*'rate_hz'"):
            c.st_session(config(4), 0, 1, 10, 1e308)
        assert c.status()["active_hash"] == config(4).hash  # nothing was shown: the verified pattern is kept
        assert c.events("fault") == [] and c.status()["counters"]["errors"] >= 5
    nested = served.daemon.store + ".nested.json"
    with open(nested, "w") as fh:
        fh.write("[" * 100_000 + "]" * 100_000)
    cli = subprocess.run(
        [sys.executable, "-m", "simhw", "push", nested, "--endpoint", served.daemon.bind[0]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 2 and "nested too deeply" in cli.stderr and "Traceback" not in cli.stderr, cli.stderr


def test_a_calibration_is_bounded_by_the_bench_file_in_pilots_and_time(served):
    served.daemon.max_pilots, served.daemon.max_job_s = 200, 1.0
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        with pytest.raises(DaemonError, match=r"bad_request.*10000005 pilot measurements.*at most 200"):
            c.calibrate(stages=1000, slots=10_000)
        job = c.calibrate(stages=10, slots=19)  # 195 pilots: allowed, but longer than max_job_s
        t0 = time.monotonic()
        record = c.wait_calibration(job, timeout=60)
        assert record["status"] == "cancelled" and "max_job_s" in record["metrics"]["error"]
        assert time.monotonic() - t0 < 10
        assert c.push(config(5))["applied"]


def test_a_calibration_the_store_has_no_room_for_is_refused_not_started(served):
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        store = service.store
        with store._lock:
            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count={pages}")
        for pad in (1000, 100, 10, 0):  # fill what is left of the last pages, down to the smallest row
            for write in (
                lambda pad=pad: store.event("f", {"p": "p" * pad}),
                lambda pad=pad: store.start_calibration("f", "p" * pad, {}, None),
            ):
                with pytest.raises(StoreFull):
                    for _i in range(100_000):
                        write()
        before = store.count("calibrations")
        with pytest.raises(DaemonError, match="store_full"):
            c.calibrate()
        assert store.count("calibrations") == before and c.status()["job"] is None
        with store._lock:
            store.db.execute("PRAGMA max_page_count=1073741823")
        assert c.wait_calibration(c.calibrate(), timeout=60)["status"] == "done"


def test_one_client_cannot_queue_more_than_its_share(served):
    served.daemon.max_queued = 4
    with (
        embedded_daemon(served) as (bench, service),
        DaemonClient(served.daemon.bind[0], timeout=60) as a,
        DaemonClient(served.daemon.bind[0], timeout=60) as b,
    ):
        rids = [a.send("measure") for _ in range(12)]
        mine = b.send("measure")
        replies = [a.receive(None, raise_errors=False) for _ in rids]
        assert sorted(m.id for m in replies) == sorted(rids)
        codes = [None if m.ok else m.header["error"]["code"] for m in replies]
        assert codes.count("busy") >= 12 - 4 - 1 and set(codes) <= {None, "busy"}, codes
        assert b.receive(mine).ok


def test_client_errors_say_what_timed_out_and_what_was_never_sent(served, tmp_path):
    c = DaemonClient(f"ipc://{tmp_path}/nobody.ipc", timeout=10)
    t0 = time.monotonic()
    with pytest.raises(DaemonTimeout, match=r"within 0.3 s"):
        c.status(timeout=0.3)
    assert time.monotonic() - t0 < 2
    c.close()
    from daemon_helpers import bench_file, daemon_process

    from simhw.control.client import DaemonBatchError

    path, cfg = bench_file(tmp_path)
    configs = [config(i) for i in range(20_000)]
    with daemon_process(path) as proc, DaemonClient(cfg.daemon.bind[0], timeout=2) as c:
        c.push(configs[0])
        killer = threading.Timer(0.5, proc.kill)  # the daemon dies mid-batch
        killer.start()
        with pytest.raises(DaemonBatchError) as e:
            c.push_many(configs, window=64)
        killer.join()
        proc.wait()
    acked = sum(a is not None for a in e.value.acks)
    assert len(e.value.errors) <= 64 and acked + len(e.value.errors) + len(e.value.unsent) == len(configs)
    assert len(e.value.unsent) > 0 and f"were not sent ({len(configs)} in the batch)" in str(e.value)
    assert "within 2 s" in str(e.value)
    print(
        f"push_many with the daemon killed: {acked} acked, {len(e.value.errors)} sent and unanswered, "
        f"{len(e.value.unsent)} not sent: {e.value}",
        file=sys.stderr,
    )


def test_the_dashboard_answers_status_within_a_second_while_a_calibration_runs(served, tmp_path):
    served.calibration.stages, served.calibration.slots = 6, 300
    server_secret, allowed = keys(tmp_path)
    with embedded_daemon(served) as (bench, service), DaemonClient(served.daemon.bind[0], timeout=60) as c:
        gw = Gateway(
            served.daemon.bind[0], served.daemon.publish, port=0, server_key=server_secret, keys_dir=allowed
        ).start()
        try:
            control = issue_token(server_secret, allowed, "operator", "control")
            assert http(gw.url + "api/status", control)[0] == 200
            req = urllib.request.Request(
                gw.url + "api/calibrate",
                data=b'{"stages": Infinity}',
                method="POST",
                headers={"Authorization": f"Bearer {control}"},
            )
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=30)
            assert e.value.code == 400
            job = c.calibrate()
            worst = 0.0
            time.sleep(1.0)
            for _ in range(8):
                t0 = time.monotonic()
                status, body = http(gw.url + "api/status", control)
                assert status == 200 and json.loads(body)["job"]["job"] == job  # still calibrating
                assert http(gw.url + "api/pushes", control)[0] == 200
                worst = max(worst, time.monotonic() - t0)
                time.sleep(BOARD_WAIT)
            print(f"dashboard /api/status + /api/pushes during a calibration: worst {worst:.3f} s", file=sys.stderr)
            assert worst < 1.0
            c.cancel(job)
        finally:
            gw.stop()


BOARD_WAIT = 0.7  # past the gateway's 5 s board-status period within the loop: a refresh falls in it
