"""The dashboard page over hours of bench time: one page kept open across calibrations and state-driven
checks, then reloaded; its indicator timeline, calibration curve, event log and badge (headless Chromium)."""

import re

import pytest
from daemon_helpers import Running
from dashboard_helpers import browser, wait_for

from simhw.app.dashboard.gateway import Gateway
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(600)
CHECK_S = 1800.0
INDICATORS = "prediction_residual_db,received_power_db"
#: every drawn point inside the plot's axes (the viewBox's margins of dashboard.js's plot())
INSIDE = """const svg = document.getElementById(arguments[0]);
return [...svg.querySelectorAll('circle')].every(c => +c.getAttribute('cx') >= 52 - 0.5 && +c.getAttribute('cx') <= 590.5
  && +c.getAttribute('cy') >= 18 - 0.5 && +c.getAttribute('cy') <= 190.5);"""


def drifting_bench(tmp_path) -> BenchConfig:
    cfg = BenchConfig(name="timeline-bench")
    cfg.sweep.points = 3
    cfg.simulation.clock_speed = 0.0  # bench time moves when the test advances it
    cfg.simulation.drift_k_per_hour = 2.0
    c = cfg.calibration
    c.parameterization, c.stages, c.slots, c.heldout, c.check_every_s = "physical", 2, 30, 15, CHECK_S
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    cfg.daemon.heartbeat_s = 0.3
    return cfg


def timeline(driver) -> dict:
    svg = driver.find_element("id", "plot-ind")
    labels = [t.text for t in svg.find_elements("css selector", "text.xtick")]
    return {
        "series": svg.get_attribute("data-series"),
        "points": int(svg.get_attribute("data-points")),
        "crossings": int(svg.get_attribute("data-crossings") or 0),
        "x0": float(svg.get_attribute("data-x0")),
        "x1": float(svg.get_attribute("data-x1")),
        "axis": labels,
        "inside": driver.execute_script(INSIDE, "plot-ind"),
        "text": driver.page_source,
    }


def assert_bench_axis(t: dict, now: float) -> None:
    assert t["series"] == INDICATORS, t["series"]  # no stray series from the message's own fields
    assert "Invalid Date" not in t["text"] and t["inside"]
    assert len(t["axis"]) == 2
    for label in t["axis"]:
        assert re.fullmatch(r"\d+:\d\d:\d\d", label), t["axis"]  # bench time h:mm:ss, not a time of day
    assert 0 <= t["x0"] < t["x1"] <= now


def test_one_page_open_across_calibrations_and_checks_then_reloaded(tmp_path):
    cfg = drifting_bench(tmp_path)
    with Running(cfg) as bench, DaemonClient(cfg.daemon.bind[0], timeout=120) as c:
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        driver = browser()
        try:
            driver.get(gw.url)
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            driver.execute_script("window.__same_page = 1")
            bench.settle()  # a state-driven calibration (no model yet) and the first check
            job = c.calibrate()  # a requested calibration on the open page
            c.wait_calibration(job, timeout=240)
            c.push(PhaseConfig.random(4, 6, 6, 2, seed=4, name="operator"))
            for _ in range(12):  # drift until a check crosses its threshold (a state-driven calibration follows)
                bench.sim.clock.advance(CHECK_S)
                bench.settle(240)
                checks = bench.store.events("indicators", 100)
                if len(checks) >= 3 and any(v["crossed"] for e in checks for v in e["data"].values()):
                    break
            checks = bench.store.events("indicators", 100)
            cals = c.calibrations()
            assert len(cals) >= 3 and any(v["crossed"] for e in checks for v in e["data"].values())
            wait_for(driver, f"return +document.getElementById('plot-ind').dataset.points === {2 * len(checks)}", 60)
            live = timeline(driver)
            assert_bench_axis(live, bench.sim.clock.now())
            assert live["crossings"] >= 1
            assert driver.execute_script("return window.__same_page") == 1
            restored = [e for e in bench.store.events("config_restored", 100)]
            assert restored  # the scheduler gave the operator's configuration back, and the log says so
            driver.refresh()  # a reload: the same timeline in bench time, the last curve, the stored events
            wait_for(driver, f"return +document.getElementById('plot-ind').dataset.points === {2 * len(checks)}", 60)
            again = timeline(driver)
            assert_bench_axis(again, bench.sim.clock.now())
            assert (again["x0"], again["x1"], again["crossings"]) == (live["x0"], live["x1"], live["crossings"])
            last = c.calibration(cals[0]["id"], model=False)[0]
            wait_for(driver, "return +document.getElementById('plot-cal').dataset.points >= 2", 30)
            assert f"final {last['metrics']['heldout_nmse_db']:.2f} dB" in driver.find_element("id", "cal-state").text
            log = driver.find_element("id", "log").text
            assert "config_restored" in log and f"calibration #{cals[0]['id']}" in log
            assert driver.execute_script(INSIDE, "plot-cal")
        finally:
            driver.quit()
            gw.stop()


def test_empty_panels_say_so_the_page_fits_and_the_badge_tells_stale_from_unreachable(tmp_path):
    cfg = drifting_bench(tmp_path)
    cfg.calibration.check_every_s = 0.0
    driver = browser()
    try:
        with embedded_daemon(cfg):
            gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0, timeout=3).start()
            driver.get(gw.url + "?token=simhw1.someone.control.0000")  # not valid: refused, not read-only
            assert "this token is not valid" in driver.find_element("tag name", "body").text
            driver.get(gw.url)
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            wait_for(driver, "return document.querySelector('#board-status tr') !== null")
            for panel in ("plot-mag", "pushes", "plot-cal", "calibrations", "plot-ind"):
                assert driver.find_element("id", panel + "-empty").is_displayed(), panel
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )  # the 128 slot CRCs fit
            assert re.search(r"slot_crcs \d+ entries, \d+ set", driver.find_element("id", "board-status").text)
        # the daemon is gone, the gateway is not: no telemetry, status fails
        wait_for(
            driver, "return ['stale', 'daemon not answering'].includes(document.getElementById('conn').textContent)", 40
        )
        gw.stop()  # and now the gateway too
        wait_for(driver, "return document.getElementById('conn').textContent === 'unreachable'", 20)
    finally:
        driver.quit()
