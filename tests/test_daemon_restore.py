"""The daemon keeps the operator's configuration: after a scheduled check or calibration has shown its own
patterns, the last pushed configuration is shown again, verified, and the next measurement measures it."""

import time

import numpy as np
import pytest
from daemon_helpers import Running

from simhw.control.client import DaemonClient
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)
CHECK_S, PERIOD_S = 600.0, 3600.0


def quiet_bench(tmp_path, idle_s=0.0) -> BenchConfig:
    cfg = BenchConfig(name="restore-test")
    cfg.sweep.points = 5
    cfg.simulation.noise = False  # two measurements of one configuration are then equal
    cfg.simulation.clock_speed = 0.0  # bench time moves only when the test advances it
    c = cfg.calibration
    c.parameterization, c.stages, c.slots, c.heldout = "physical", 1, 30, 10
    c.period_s, c.check_every_s, c.idle_s = PERIOD_S, CHECK_S, idle_s
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    return cfg


def test_checks_and_periodic_calibrations_give_the_operator_back_the_pushed_configuration(tmp_path):
    a = PhaseConfig.random(4, 6, 6, 2, seed=11, name="operator A")
    with Running(quiet_bench(tmp_path)) as bench, DaemonClient(bench.cfg.daemon.bind[0], timeout=60) as c:
        bench.settle()  # the first periodic calibration and the indicators' baseline
        c.push(a)
        meta = c.measure()
        _f, before = meta.frequencies, meta.s
        assert meta.config_hash == a.hash and meta.flag is None
        bench.sim.clock.advance(CHECK_S)  # a state-driven check shows the reference configurations
        bench.settle()
        bench.sim.clock.advance(PERIOD_S - CHECK_S)  # a periodic calibration shows its pilots, then a check
        bench.settle()
        meta = c.measure()
        _f, after = meta.frequencies, meta.s
        runs = bench.store.list_calibrations(10)
        restored = bench.store.events("config_restored", 10)
        checks = bench.store.events("indicators", 10)
    assert [r["protocol"] for r in runs] == ["periodic-single-stage"] * 2 and len(checks) >= 3
    assert meta.config_hash == a.hash and meta.flag is None  # labelled A, unflagged
    np.testing.assert_array_equal(after, before)  # and it is A's response, not a pilot's or a reference's
    assert {e["data"]["hash"] for e in restored} == {a.hash}
    assert {e["data"]["after"] for e in restored} >= {"check", "periodic calibration"}
    print(
        f"{len(restored)} restores after: {sorted(e['data']['after'] for e in restored)}; "
        f"|S21| {20 * np.log10(abs(after[0, 0])):.2f} dB before and after"
    )


def test_with_idle_s_the_schedule_waits_for_a_quiet_bench(tmp_path):
    with Running(quiet_bench(tmp_path, idle_s=1.0)) as bench, DaemonClient(bench.cfg.daemon.bind[0], timeout=60) as c:
        bench.settle()
        checks = len(bench.store.events("indicators", 100))
        bench.sim.clock.advance(CHECK_S)  # a check is due, but the operator keeps working
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            c.status()
            time.sleep(0.2)
        assert len(bench.store.events("indicators", 100)) == checks
        bench.settle()  # quiet for idle_s: the check runs
        assert len(bench.store.events("indicators", 100)) == checks + 1
