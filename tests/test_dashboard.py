"""The live dashboard in a real browser: the distribution's headless Chromium through Selenium, against the
gateway and an embedded simulated bench; the JSON API and its tokens through plain HTTP on loopback."""

import json
import os

import pytest
from daemon_helpers import keys
from dashboard_helpers import bench, browser, hold_after_stage, http, wait_for

from simhw.app.dashboard.gateway import Gateway
from simhw.app.dashboard.tokens import issue_token
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)


def test_the_page_follows_pushes_measurements_and_calibration_live(tmp_path):
    cfg = bench(tmp_path)
    server_secret, allowed = keys(tmp_path)
    with embedded_daemon(cfg) as (sim, service), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0, server_key=server_secret, keys_dir=allowed).start()
        held, release = hold_after_stage(service)
        driver = browser()
        try:
            token = issue_token(server_secret, allowed, "operator", "control")
            driver.get(gw.url + f"?token={token}")
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            assert "dashboard-bench" in driver.find_element("id", "bench").text
            assert "N5227B" in driver.find_element("id", "vna").text
            assert sim.firmwares[0].serial in driver.find_element("id", "board").text  # what the board reported
            assert driver.find_element("id", "controls").is_displayed()  # a control token
            marker = driver.execute_script("window.__same_page = 1; return 1")
            # a push and a measure through the ZeroMQ client: the page updates without a reload
            config = PhaseConfig.random(4, 6, 6, 2, seed=3, name="from-zmq")
            meta = c.push_measure(config)
            f, _s = meta.frequencies, meta.s
            wait_for(driver, f"return document.querySelector('#pushes tr[data-hash=\"{config.hash}\"]') !== null")
            wait_for(driver, f"return document.getElementById('plot-mag').dataset.measurement === '{meta.id}'")
            assert int(driver.find_element("id", "plot-mag").get_attribute("data-points")) == 2 * len(f)
            assert len(driver.find_elements("css selector", "#plot-mag polyline.series")) == 2  # S21, S31
            href = driver.find_element("id", "touchstone").get_attribute("href")
            status, body = http(href)
            assert status == 200 and body.startswith(b"! simhw measurement of config " + config.hash.encode())
            # a calibration: its stage NMSE curve fills in while it runs
            job = c.calibrate(stages=3, slots=20)
            assert held.wait(120)  # stage 1 is done and the calibration waits: the page must show it now
            wait_for(driver, "return +document.getElementById('plot-cal').dataset.points >= 1", timeout=10)
            state = driver.find_element("id", "cal-state").text
            assert "stage" in state and "done" not in state
            first = driver.current_window_handle
            driver.switch_to.new_window("tab")  # a page opened mid-calibration is live at once, its uptime moving
            driver.get(gw.url + f"?token={token}")
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'", timeout=15)
            assert c.status()["job"] is not None  # still calibrating
            up = driver.find_element("id", "uptime").text
            wait_for(driver, f"return document.getElementById('uptime').textContent !== '{up}'", timeout=15)
            driver.close()
            driver.switch_to.window(first)
            release.set()
            c.wait_calibration(job, timeout=240)
            wait_for(driver, "return +document.getElementById('plot-cal').dataset.points === 4", timeout=60)
            wait_for(driver, "return document.getElementById('cal-state').textContent.includes('done')")
            final = c.calibration(c.calibrations()[0]["id"], model=False)[0]["metrics"]["heldout_nmse_db"]
            assert f"final {final:.2f} dB" in driver.find_element("id", "cal-state").text  # after the residual stage
            assert driver.execute_script("return window.__same_page") == marker  # never reloaded
            path = tmp_path / "dashboard.png"
            driver.save_screenshot(str(path))
            assert path.stat().st_size > 20_000
        finally:
            release.set()
            driver.quit()
            gw.stop()


def test_tokens_decide_who_reads_and_who_controls(tmp_path):
    cfg = bench(tmp_path)
    server_secret, allowed = keys(tmp_path)
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        c.push(PhaseConfig.random(4, 6, 6, 2, seed=1))
        # as if every client were off loopback: no token, no page, no API
        gw = Gateway(
            cfg.daemon.bind[0],
            cfg.daemon.publish,
            port=0,
            server_key=server_secret,
            keys_dir=allowed,
            require_token=True,
        ).start()
        try:
            for path in ("", "api/status", "api/pushes", "ws"):
                assert http(gw.url + path)[0] == 401, path
            read = issue_token(server_secret, allowed, "viewer", "read")
            control = issue_token(server_secret, allowed, "operator", "control")
            status, body = http(gw.url + "api/status", read)
            assert status == 200 and json.loads(body)["role"] == "read"
            assert http(gw.url + "api/measure", read, {})[0] == 403  # read-only
            forged = read.replace(".read.", ".control.")
            assert http(gw.url + "api/measure", forged, {})[0] == 401
            status, body = http(gw.url + "api/measure", control, {})
            assert status == 200 and json.loads(body)["measurement"] == 1
            (pushed,) = json.loads(http(gw.url + "api/pushes", control)[1])
            status, body = http(gw.url + "api/push", control, {"hash": pushed["hash"]})
            assert status == 200 and json.loads(body)["applied"] is False  # already shown: verified, not re-applied
            assert http(gw.url + "api/push", control, {"hash": "0" * 64})[0] == 404  # no such record: not a 502
            status, body = http(gw.url + "api/measurement/999", control)
            assert status == 404 and json.loads(body)["error"] == "not_found"
            os.remove(os.path.join(allowed, "operator.key"))  # off the allow-list: the token is void
            assert http(gw.url + "api/status", control)[0] == 401
        finally:
            gw.stop()
        # loopback without a token: the page and the read API, no control
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        try:
            assert http(gw.url)[0] == 200 and http(gw.url + "api/calibrations")[0] == 200
            assert http(gw.url + "api/calibrate", None, {})[0] == 403
            api = json.loads(http(gw.url + "api")[1])["api"]
            assert api["/api/push"]["control"] and not api["/api/status"]["control"]
        finally:
            gw.stop()
    with pytest.raises(ValueError, match="needs tokens"):
        Gateway(cfg.daemon.bind[0], cfg.daemon.publish, host="0.0.0.0")
