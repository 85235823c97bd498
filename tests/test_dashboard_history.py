"""What a page opened late knows: a fresh page during a calibration is live at once and draws the run so far,
a page opened after it draws the whole curve and logs every stage, and a reload keeps both; the stages
are events in the store (``/api/events``). Headless Chromium against the gateway and an embedded bench."""

import json
import time

import pytest
from dashboard_helpers import bench, browser, hold_after_stage, http, wait_for

from simhw.app.dashboard.gateway import Gateway
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient

pytestmark = pytest.mark.timeout(400)
LOG_LINES = (
    "return [...document.getElementById('log').children].map(d => d.textContent.split('  ').slice(1).join('  '))"
)


def text(driver, element: str) -> str:
    return driver.find_element("id", element).text


def test_a_page_opened_mid_calibration_is_live_loaded_and_draws_the_run_so_far(tmp_path):
    cfg = bench(tmp_path)
    with embedded_daemon(cfg) as (_, service), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        driver = browser()
        held, release = hold_after_stage(service, 2)  # running, provably, until released
        try:
            job = c.calibrate(stages=3, slots=20, job="long-run")
            assert held.wait(120), "the calibration did not reach its second stage"
            assert len(c.events("calibration")) >= 3, "the run's steps are not in the store"  # started, two stages
            t0 = time.monotonic()
            driver.get(gw.url)
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'", timeout=10)
            wait_for(driver, "return document.getElementById('bench').textContent.includes('dashboard-bench')", 5)
            wait_for(driver, "return +document.getElementById('plot-cal').dataset.points >= 2", 5)
            loaded = time.monotonic() - t0
            assert c.status()["job"]["job"] == job  # all of it while the calibration holds the bench
            state = text(driver, "cal-state")  # the run's latest step: started, measured or a stage, never an end
            assert state.startswith("#") and not any(w in state for w in ("done", "cancelled", "failed")), state
            assert not driver.find_element("id", "cancel-btn").get_attribute("disabled")
            ups = [text(driver, "uptime")]
            for _ in range(2):  # the uptime moves on (status every 5 s, heartbeats in between)
                wait_for(driver, f"return document.getElementById('uptime').textContent !== '{ups[-1]}'", 12)
                ups.append(text(driver, "uptime"))
            assert text(driver, "conn") == "live" and c.status()["job"] is not None
            c.cancel(job)
            release.set()
            wait_for(driver, "return document.getElementById('cal-state').textContent.includes('cancelled')", 60)
        finally:
            release.set()
            driver.quit()
            gw.stop()
    print(f"fresh page mid-calibration: live, status and curve in {loaded:.2f} s; uptime {ups}")
    assert [int(u.split()[1]) for u in ups] == sorted(int(u.split()[1]) for u in ups)


def test_a_finished_calibrations_curve_and_log_come_from_the_store_on_a_fresh_page_and_after_a_reload(tmp_path):
    cfg = bench(tmp_path)
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        record = c.wait_calibration(c.calibrate(stages=3, slots=20), timeout=240)  # before any page was open
        final = record["metrics"]["heldout_nmse_db"]
        deadline = time.monotonic() + 10  # the 'done' step is stored just after the record is finished
        while c.events("calibration", limit=1)[0]["data"]["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        steps = [e["data"] for e in reversed(c.events("calibration"))]
        assert [s["state"] for s in steps] == ["started", "stage", "stage", "stage", "done"]
        assert [s["heldout_nmse_db"] for s in steps[1:4]] == [s["heldout_nmse_db"] for s in record["stages"]]
        assert steps[-1]["heldout_nmse_db"] == final  # the figure after the residual stage
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        driver = browser()
        try:
            status, body = http(gw.url + "api/events?kind=calibration")
            assert status == 200 and json.loads(body)[0]["data"]["state"] == "done"
            logs = []
            for _ in range(2):  # a fresh page, then the same page reloaded
                driver.get(gw.url) if not logs else driver.refresh()
                wait_for(driver, "return +document.getElementById('plot-cal').dataset.points === 4", 30)
                wait_for(driver, "return document.getElementById('log').textContent.includes('final')", 10)
                assert f"final {final:.2f} dB" in text(driver, "cal-state")
                log = text(driver, "log")
                for s in steps[1:4]:
                    assert f"calibration #{record['id']} stage {s['stage']}: {s['heldout_nmse_db']:.2f} dB" in log
                logs.append(sorted(driver.execute_script(LOG_LINES)))
            assert logs[0] == logs[1]  # the reload lost nothing and added nothing
            assert len([line for line in logs[0] if line.startswith(f"calibration #{record['id']} ")]) == len(steps)
        finally:
            driver.quit()
            gw.stop()
