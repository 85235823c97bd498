"""The dashboard in front of a CURVE-secured daemon: real processes (``simhw daemon``, ``simhw dashboard``),
the gateway's own key from ``simhw dashboard keys``, control tokens, and the page driven in headless Chromium."""

import json
import shutil
import subprocess
import sys
import time

import pytest
import zmq.auth
from aiohttp.test_utils import make_mocked_request
from daemon_helpers import bench_file, daemon_process, free_port, stop_process
from dashboard_helpers import browser, http, wait_for

from simhw.app.dashboard.command import gateway_for
from simhw.app.dashboard.gateway import Gateway
from simhw.control.client import DaemonClient
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(400)


def curve_bench(tmp_path):
    """A bench file whose daemon has a key pair and an allow-list holding the operator's public key."""
    allowed, mine = tmp_path / "allowed", tmp_path / "keys"
    allowed.mkdir()
    mine.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(mine), "server")
    operator_public, operator_secret = zmq.auth.create_certificates(str(mine), "operator")
    shutil.copy(operator_public, allowed / "operator.key")
    path, cfg = bench_file(tmp_path, slots=40, daemon__keys=str(allowed), daemon__server_key=server_secret)
    return path, cfg, (server_public, operator_secret)


def simhw(*args, **kw):
    return subprocess.run([sys.executable, "-m", "simhw", *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture
def dashboard_process():
    procs = []

    def start(path, port, *extra):
        proc = subprocess.Popen(
            [sys.executable, "-m", "simhw", "dashboard", "--bench", str(path), "--http", f"127.0.0.1:{port}", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("ready dashboard"), (line, proc.stderr.read() if proc.poll() is not None else "")
        return line.split()[-1]

    yield start
    for proc in procs:
        stop_process(proc, 15)


def test_a_curve_daemon_is_controlled_from_the_page_with_a_token(tmp_path, dashboard_process):
    path, cfg, operator = curve_bench(tmp_path)
    with pytest.raises(ValueError, match="simhw dashboard keys --bench"):
        gateway_for(BenchConfig.load(path), "127.0.0.1:0")  # no key of its own yet: says how to make one
    made = simhw("dashboard", "keys", "--bench", str(path))
    assert made.returncode == 0 and "allowed as" in made.stdout, made.stderr
    token = simhw("dashboard", "token", "--bench", str(path), "--client", "operator", "--control").stdout.strip()
    with daemon_process(path), DaemonClient(cfg.daemon.bind[0], timeout=30, curve=operator) as c:
        a, b = (PhaseConfig.random(4, 6, 6, 2, seed=s, name=n) for s, n in ((1, "first"), (2, "second")))
        c.push(a)
        c.push(b)
        url = dashboard_process(path, free_port(), "--require-token")  # every client treated as off loopback
        for p in ("", "api/status", "api/measurements", "api/measurement/1", "ws"):
            assert http(url + p)[0] == 401, p
        assert b"A token is needed" in http(url)[1]  # the page says what to do, not raw JSON
        status, body = http(url + "api/status", token)
        assert status == 200 and json.loads(body)["bench"] == "daemon-test"  # answered through CURVE
        driver = browser()
        try:
            driver.get(url + f"?token={token}")
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            wait_for(driver, "return document.getElementById('controls').hidden === false")
            wait_for(driver, f"return document.querySelector('#config-select option[value=\"{a.hash}\"]') !== null")
            driver.execute_script(f"document.getElementById('config-select').value = '{a.hash}'")
            driver.find_element("id", "push-btn").click()
            wait_for(driver, f"return document.getElementById('control-result').textContent.includes('{a.hash}')")
            assert c.status()["active_hash"] == a.hash
            driver.find_element("id", "measure-btn").click()
            wait_for(driver, "return document.getElementById('plot-mag').dataset.measurement === '1'")
            assert driver.find_element("id", "meas-label").text.startswith(f"#1, config {a.hash[:12]}")
            driver.find_element("id", "cal-btn").click()  # the bench file's stages and slots
            wait_for(driver, "return document.getElementById('cal-state').textContent.includes('done')", 300)
            (row,) = c.calibrations()
            cal = c.calibration(row["id"], model=False)[0]
            assert cal["status"] == "done" and (cal["params"]["stages"], cal["params"]["slots"]) == (1, 40)
        finally:
            driver.quit()


def test_require_token_without_keys_refuses_to_start_and_says_what_to_do(tmp_path):
    path, cfg = bench_file(tmp_path)
    run = simhw("dashboard", "--bench", str(path), "--http", f"127.0.0.1:{free_port()}", "--require-token")
    assert run.returncode == 2 and "tokens need the daemon's CURVE keys" in run.stderr and "simhw keys" in run.stderr


def test_a_bad_token_is_refused_on_loopback_too_and_off_loopback_needs_one(tmp_path):
    path, cfg, _ = curve_bench(tmp_path)
    gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, server_key=cfg.daemon.server_key, keys_dir=cfg.daemon.keys)
    loopback = _Transport(("127.0.0.1", 40000))
    request = make_mocked_request("GET", "/api/status?token=simhw1.operator.control.00", transport=loopback)
    role, why = gw.access(request)
    assert role is None and "not valid" in why
    assert gw.access(make_mocked_request("GET", "/api/status", transport=loopback)) == ("read", "")
    remote = make_mocked_request("GET", "/api/status", transport=_Transport(("192.0.2.7", 40000)))
    assert gw.access(remote)[0] is None


def test_an_unknown_client_gets_a_message_not_a_traceback(tmp_path):
    path, cfg, _ = curve_bench(tmp_path)
    run = simhw("dashboard", "token", "--bench", str(path), "--client", "carol")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "'carol' is not on the allow-list" in run.stderr and "simhw keys carol" in run.stderr


def test_a_client_without_the_curve_key_is_told_so(tmp_path):
    path, cfg, _ = curve_bench(tmp_path)
    with daemon_process(path):
        t0 = time.monotonic()
        run = simhw("status", "--endpoint", cfg.daemon.bind[0], "--timeout", "1.5")
    assert run.returncode == 3 and "it uses CURVE and this client has no keys" in run.stderr, run.stderr
    assert time.monotonic() - t0 < 40


class _Transport:
    def __init__(self, peer):
        self.peer = peer

    def get_extra_info(self, name, default=None):
        return self.peer if name == "peername" else default

    def is_closing(self):
        return False
