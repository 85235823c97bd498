"""The dashboard tests' helpers: a bench for the page, plain HTTP on loopback, headless Chromium through
Selenium, and a calibration held after a stage."""

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request

import pytest

from simhw.values.bench_config import BenchConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def bench(tmp_path) -> BenchConfig:
    cfg = BenchConfig(name="dashboard-bench")
    cfg.sweep.points = 5
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    cfg.daemon.heartbeat_s = 0.3
    cfg.calibration.parameterization = "physical"
    cfg.calibration.heldout = 10
    return cfg


def http(url, token=None, body=None):
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("Chromium and ChromeDriver are missing: .ci/run installs them (chromium, chromium-driver)")
        pytest.skip("no chromium/chromedriver on this machine")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(driver, script, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"the page never satisfied: {script}")


def hold_after_stage(service, stage: int = 1):
    """The daemon's calibration pauses after publishing stage ``stage`` until ``release`` is set (at most
    120 s): (held, release) events, so a test sees the page while the calibration is provably running."""
    held, release, publish = threading.Event(), threading.Event(), service.event

    def event(topic, data):
        publish(topic, data)
        if topic == "calibration" and data.get("state") == "stage" and data.get("stage") == stage and not held.is_set():
            held.set()
            release.wait(120)

    service.event = event
    return held, release
