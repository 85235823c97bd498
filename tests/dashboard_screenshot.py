"""Make docs/img/dashboard.png with the browser path the dashboard test uses (headless Chromium via
Selenium), on the embedded simulated bench during and after a calibration.

    python tests/dashboard_screenshot.py docs/img/dashboard.png
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_dashboard import bench, browser, wait_for  # noqa: E402

from simhw.app.dashboard.gateway import Gateway  # noqa: E402
from simhw.app.embedded import embedded_daemon  # noqa: E402
from simhw.control.client import DaemonClient  # noqa: E402
from simhw.values.phase_config import PhaseConfig  # noqa: E402


def main(out: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="simhw-shot-"))
    cfg = bench(tmp)
    cfg.calibration.check_every_s = 0.0
    with embedded_daemon(cfg), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        driver = browser()
        try:
            driver.set_window_size(1400, 1500)
            driver.get(gw.url)
            wait_for(driver, "return document.getElementById('conn').textContent === 'live'")
            for i in range(4):
                c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=i, name=f"focus-{i}"))
            c.wait_calibration(c.calibrate(stages=4, slots=20), timeout=300)
            c.push_measure(PhaseConfig.random(4, 6, 6, 2, seed=9, name="after"))
            time.sleep(1.5)
            driver.save_screenshot(out)
        finally:
            driver.quit()
            gw.stop()
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img/dashboard.png")
