"""The dashboard costs the push path nothing: the daemon benchmark with and without it, in one run.

    python -m benchmarks.dashboard [--n 1500] [--rounds 10]

A ``simhw daemon`` process on the simulated bench (board in its process) takes sequential pushes
(p50 latency) and pipelined pushes (256 in flight) from one client, in rounds without the dashboard
(the order alternating, ABBA, so a drift of the machine cancels) and with a ``simhw dashboard`` process attached and the distribution's headless Chromium showing the
page (the gateway forwards the push telemetry to it). Both extra processes share this machine's cores
with the daemon, as a lab's rarely would; they run at a lower priority (the dashboard lowers its own,
the browser is started under ``nice``). Printed: both figures per condition, the
medians over the rounds and their ratios (target: within 10 %, ratio 0.9 to 1.1).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.daemon import free_port, process, timed_pushes
from simhw.control.client import DaemonClient
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

SETTLE_S = 3.0


def browser(url: str, tmp: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # the browser of a lab usually runs on another machine; here it shares two cores with the daemon,
    # so it runs at a lower priority, as a desktop session's would next to a service
    wrapper = tmp / "chromium-nice"
    wrapper.write_text(
        f'#!/bin/sh\nexec nice -n 10 {shutil.which("chromium") or shutil.which("chromium-browser")} "$@"\n'
    )
    wrapper.chmod(0o755)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(wrapper)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.get(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and driver.find_element("id", "conn").text != "live":
        time.sleep(0.1)
    return driver


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args(argv)
    # the store on tmpfs where there is one: the shared disk's flush latency is noise to this comparison
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        tmp = Path(tmp)
        cfg = BenchConfig(name="benchmark")
        cfg.simulation.transport = "inproc"
        cfg.daemon.bind = [f"tcp://127.0.0.1:{free_port()}"]
        cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
        cfg.daemon.store = str(tmp / "store.sqlite")
        (tmp / "bench.toml").write_text(cfg.to_toml())
        http = f"127.0.0.1:{free_port()}"
        results: dict = {"without": [], "with": []}
        with (
            process(["-m", "simhw", "daemon", "--bench", str(tmp / "bench.toml")]),
            DaemonClient(cfg.daemon.bind[0], timeout=60) as c,
        ):
            seed = 0
            for r in range(a.rounds):
                for cond in ("without", "with") if r % 2 == 0 else ("with", "without"):  # ABBA: drift cancels
                    configs = [PhaseConfig.random(4, 6, 6, 2, seed=seed + i) for i in range(2 * a.n)]
                    seed += 2 * a.n
                    with contextlib.ExitStack() as stack:
                        if cond == "with":
                            stack.enter_context(
                                process(
                                    ["-m", "simhw", "dashboard", "--bench", str(tmp / "bench.toml"), "--http", http]
                                )
                            )
                            driver = None if os.environ.get("NO_BROWSER") else browser(f"http://{http}/", tmp)
                            if driver is not None:
                                stack.callback(driver.quit)
                            time.sleep(SETTLE_S)  # both started: measure the steady state, not their start-up
                        lat, rate = timed_pushes(c, configs, a.n)
                        p50 = float(np.median(lat))
                        if cond == "with" and driver is not None:  # the page saw the last push
                            deadline = time.monotonic() + 30
                            while (
                                time.monotonic() < deadline
                                and driver.execute_script(
                                    "const r = document.querySelector('#pushes tr'); return r && r.dataset.hash"
                                )
                                != configs[2 * a.n - 1].hash
                            ):
                                time.sleep(0.1)
                    results[cond].append((p50, rate))
                    print(
                        f"round {r + 1} {cond:<7} dashboard: push p50 {p50 * 1e6:7.1f} us, pipelined {rate:6.0f}/s",
                        flush=True,
                    )
        med = {k: np.median(np.array(v), axis=0) for k, v in results.items()}
        print(
            f"median over {a.rounds} rounds: push p50 {med['without'][0] * 1e6:.1f} us without, "
            f"{med['with'][0] * 1e6:.1f} us with the dashboard and a browser (ratio {med['with'][0] / med['without'][0]:.3f}); "
            f"pipelined {med['without'][1]:.0f}/s without, {med['with'][1]:.0f}/s with "
            f"(ratio {med['with'][1] / med['without'][1]:.3f}); target within 10 %"
        )


if __name__ == "__main__":
    main()
