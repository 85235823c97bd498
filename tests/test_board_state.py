"""What the store says is what the board showed: a board reset between push and measure (issue: board state)."""

import threading
import time

import numpy as np
from boards_helpers import reboot
from daemon_helpers import ipc_bench

from simhw.app.embedded import embedded_daemon
from simhw.control.board_state import CHANGED_DURING_SWEEP, UNEXPECTED
from simhw.control.client import DaemonClient
from simhw.control.telemetry import subscribe
from simhw.values.phase_config import PhaseConfig


class Telemetry:
    """Topics published by the daemon, collected from a live subscription (it has seen a heartbeat)."""

    def __init__(self, endpoint):
        self.topics, self.live = [], threading.Event()
        self.thread = threading.Thread(target=self._run, args=(endpoint,), daemon=True)
        self.thread.start()
        assert self.live.wait(10)

    def _run(self, endpoint):
        for topic, data in subscribe(endpoint, timeout=3.0, limit=500):
            self.live.set()
            self.topics.append((topic, data))

    def wait_for(self, topic, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [d for t, d in self.topics if t == topic]
            if found:
                return found
            time.sleep(0.02)
        return []


def test_a_reset_between_push_and_measure_is_never_labelled_with_the_push(tmp_path):
    cfg = ipc_bench(tmp_path, "reset-measure", quiet=True)
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
        fw, g = bench.firmwares[0], cfg.geometry
        a = PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=11)
        telemetry = Telemetry(cfg.daemon.publish)
        assert c.push(a)["applied"]
        m0 = c.measure()
        f0, s0 = m0.frequencies, m0.s
        assert m0.config_hash == a.hash and m0.flag is None
        reboot(fw)
        boot_pattern = PhaseConfig(fw.active_codes(), g.bits)
        assert boot_pattern.hash != a.hash
        m1 = c.measure()
        _f1, s1 = m1.frequencies, m1.s
        assert m1.config_hash == boot_pattern.hash and m1.flag == UNEXPECTED  # what the board really showed
        assert np.max(np.abs(s1 - s0)) > 1e-3  # and it measured differently
        stored = c.measurement(m1.id)
        assert stored.config_hash == boot_pattern.hash
        resets = c.events("board_reset")
        assert resets and resets[0]["data"]["was"] == a.hash
        assert telemetry.wait_for("board_reset")
        again = c.push(a)
        assert again["applied"]  # the cache was cleared: pushed again, and verified
        np.testing.assert_array_equal(fw.active_codes(), a.codes)
        m2 = c.measure()
        f2, s2 = m2.frequencies, m2.s
        assert m2.config_hash == a.hash and m2.flag is None
        np.testing.assert_array_equal(s2, s0)  # noise off: the same pattern measures the same
        np.testing.assert_array_equal(f2, f0)


def test_a_reset_between_the_readback_and_the_sweep_of_a_push_measure(tmp_path):
    cfg = ipc_bench(tmp_path, "reset-push-measure", quiet=True)
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
        fw, g = bench.firmwares[0], cfg.geometry
        a = PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=12)
        configure, fired = service.vna.configure, []

        def configure_after_a_reset(*args, **kw):  # the push was read back; the sweep has not started
            if not fired:
                fired.append(True)
                reboot(fw)
            return configure(*args, **kw)

        service.vna.configure = configure_after_a_reset
        meta = c.push_measure(a)
        _f, _s = meta.frequencies, meta.s
        assert fired and meta.push["applied"]
        assert meta.config_hash is None and meta.flag == CHANGED_DURING_SWEEP
        assert c.measurements(limit=1)[0]["hash"] is None
        (reset,) = c.events("board_reset")  # recorded once, naming the configuration it undid
        assert reset["data"]["was"] == a.hash and "rebooted" in reset["data"]["reason"]
        assert c.push(a)["applied"]
        np.testing.assert_array_equal(fw.active_codes(), a.codes)
        m = c.measure()
        assert m.config_hash == a.hash and m.flag is None


def test_open_ris_boards_are_checked_by_readback(tmp_path):
    cfg = ipc_bench(tmp_path, "reset-open-ris", quiet=True)
    cfg.geometry.layers, cfg.geometry.rows, cfg.geometry.cols, cfg.geometry.bits = 2, 16, 16, 1
    cfg.board.protocol, cfg.board.urls = "open-ris", ["sim", "sim"]
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
        a = PhaseConfig.random(2, 16, 16, bits=1, seed=13)
        assert c.push(a)["applied"]
        assert c.measure().config_hash == a.hash
        reboot(bench.firmwares[1])  # one member of the composite board browns out
        shown = PhaseConfig(np.concatenate([fw.active_codes() for fw in bench.firmwares]), 1)
        m = c.measure()
        assert m.config_hash == shown.hash != a.hash and m.flag == UNEXPECTED
        assert c.events("board_changed")
        assert c.push(a)["applied"]
        assert c.measure().config_hash == a.hash


def test_a_reset_between_two_pushes_of_the_same_configuration_re_applies_it(tmp_path):
    """No measurement between the reset and the second push: only the push's own check of the board
    (its STATUS, not the daemon's memory) can tell that the board no longer shows the configuration."""
    cfg = ipc_bench(tmp_path, "reset-repush", quiet=True)
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
        fw, g = bench.firmwares[0], cfg.geometry
        a = PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=14)
        assert c.push(a)["applied"]
        latches = fw.latch_count
        assert not c.push(a)["applied"]  # shown and unchanged: skipped, nothing written to the board
        assert fw.latch_count == latches
        reboot(fw)
        assert not np.array_equal(fw.active_codes(), a.codes)
        again = c.push(a)
        assert again["applied"]
        np.testing.assert_array_equal(fw.active_codes(), a.codes)
        (reset,) = c.events("board_reset")
        assert reset["data"]["was"] == a.hash
        m = c.measure()
        assert m.config_hash == a.hash and m.flag is None
