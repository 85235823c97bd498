"""Make docs/img/dashboard.png with the browser path the dashboard tests use (headless Chromium via
Selenium): the realistic simulated bench, its scheduler calibrating it (stages, then the final figure
after the residual stage) and watching the indicators while the bench drifts, until a check crosses
its threshold and a state-driven recalibration follows.

    python tests/dashboard_screenshot.py docs/img/dashboard.png
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from daemon_helpers import Running  # noqa: E402
from dashboard_helpers import browser, wait_for  # noqa: E402

from simhw.app.dashboard.gateway import Gateway  # noqa: E402
from simhw.control.client import DaemonClient  # noqa: E402
from simhw.values.bench_config import BenchConfig  # noqa: E402
from simhw.values.phase_config import PhaseConfig  # noqa: E402


def realistic_bench(tmp: Path) -> BenchConfig:
    cfg = BenchConfig.named("realistic", name="realistic-bench")
    cfg.simulation.clock_speed = 0.0  # bench time moves check by check
    cfg.simulation.drift_k_per_hour = 2.0
    c = cfg.calibration
    c.parameterization, c.atom_gains, c.stages, c.heldout, c.check_every_s = "hybrid", True, 2, 40, 1800.0
    cfg.daemon.bind = [f"ipc://{tmp}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp}/p.ipc"
    cfg.daemon.store = str(tmp / "store.sqlite")
    cfg.daemon.heartbeat_s = 0.5
    return cfg


def main(out: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="simhw-shot-"))
    cfg = realistic_bench(tmp)
    with Running(cfg) as bench, DaemonClient(cfg.daemon.bind[0], timeout=600) as c:
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0, timeout=120).start()
        driver = browser()
        try:
            driver.set_window_size(1400, 1500)
            driver.get(gw.url)
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            bench.settle(600)  # the first calibration (no model yet) and the indicators' baseline
            c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=1, name="operator"))
            for _ in range(16):
                bench.sim.clock.advance(cfg.calibration.check_every_s)
                bench.settle(600)
                if bench.service.scheduler.runs.get("state-driven", 0) >= 2:  # the first run had no model
                    break
            c.measure()
            wait_for(driver, "return document.getElementById('cal-state').textContent.includes('final')", 120)
            wait_for(driver, "return +document.getElementById('plot-ind').dataset.crossings >= 1", 60)
            time.sleep(1.5)
            driver.save_screenshot(out)
            print(driver.find_element("id", "cal-state").text, "|", driver.find_element("id", "ind-text").text)
        finally:
            driver.quit()
            gw.stop()
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img/dashboard.png")
