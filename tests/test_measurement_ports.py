"""One Measurement from the sweep to every file: with ``vna.receive_port_map = [4, 3]`` the CLI's
Touchstone export, the lab's export and the dashboard's JSON all name ports 4 and 3, and the Python
API labels a measurement exactly as the daemon does (ports, hash, flag, latch report)."""

import json
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest
from boards_helpers import reboot
from daemon_helpers import ipc_bench
from lab_helpers import wait_replicated

from drivers.bench import open_devices
from drivers.smp import pattern_crc
from sim_backend.bench import SimBench
from simhw.app.api import Bench
from simhw.app.dashboard.gateway import Gateway
from simhw.app.embedded import embedded_daemon
from simhw.control.bench_service import BenchService
from simhw.control.board_state import UNEXPECTED
from simhw.control.client import DaemonClient
from simhw.control.lab.exports import to_touchstone
from simhw.control.lab.lab_store import LabStore
from simhw.control.server import BenchServer
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)


def mapped_bench(tmp_path, name):
    """A 4-port VNA with receive antenna 0 on port 4 and antenna 1 on port 3; no noise."""
    cfg = ipc_bench(tmp_path, name, quiet=True)
    cfg.vna.family, cfg.vna.model = "rs", "ZNA43"
    cfg.vna.receive_port_map = [4, 3]
    return cfg


def s_column(path, receive: int) -> np.ndarray:
    """S(receive, 1) of a Touchstone file, read by scikit-rf."""
    import skrf

    net = skrf.Network(str(path))
    assert net.nports == 4
    return net.s[:, receive - 1, 0]


def test_the_cli_and_the_dashboard_name_ports_4_and_3(tmp_path):
    """Measured through the daemon: the reply, the store, the CLI's Touchstone export and the dashboard's JSON
    and Touchstone all name ports 4 and 3 (no lab database needed)."""
    cfg = mapped_bench(tmp_path, "mapped")
    a = PhaseConfig.random(4, 6, 6, 2, seed=21)
    with embedded_daemon(cfg) as (sim, service), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        m = c.push_measure(a)
        assert m.receive_ports == (4, 3) and m.params == ("S41", "S31") and m.config_hash == a.hash
        assert m.latched["crc"] == pattern_crc(a.codes, 2)  # the board's report: it latched the pushed pattern
        assert c.measurement(m.id).latched == m.latched  # read back from the store
        truth = sim.truth.response(a.codes, 2, m.frequencies)  # column k: receive antenna k
        np.testing.assert_allclose(m.s, truth, rtol=1e-3)
        # the command line's Touchstone export
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "simhw",
                "measure",
                "--endpoint",
                cfg.daemon.bind[0],
                "--touchstone",
                str(tmp_path / "cli"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        path = tmp_path / "cli.s4p"
        assert "! measured: S41, S31" in path.read_text()
        np.testing.assert_allclose(s_column(path, 4), truth[:, 0], rtol=1e-3)
        np.testing.assert_allclose(s_column(path, 3), truth[:, 1], rtol=1e-3)
        assert np.all(s_column(path, 2) == 0)  # port 2 was not measured
        # the dashboard's data
        gw = Gateway(cfg.daemon.bind[0], cfg.daemon.publish, port=0).start()
        try:
            with urllib.request.urlopen(gw.url + f"api/measurement/{m.id}", timeout=30) as r:
                shown = json.loads(r.read())
            with urllib.request.urlopen(gw.url + f"api/measurement/{m.id}/touchstone", timeout=30) as r:
                (tmp_path / "gw.s4p").write_bytes(r.read())
        finally:
            gw.stop()
        assert shown["params"] == ["S41", "S31"] and shown["receive_ports"] == [4, 3] and shown["source_port"] == 1
        assert shown["latched"] == m.latched
        np.testing.assert_allclose(np.array(shown["re"]) + 1j * np.array(shown["im"]), m.s, rtol=1e-12)
        np.testing.assert_allclose(s_column(tmp_path / "gw.s4p", 4), m.s[:, 0], rtol=1e-9)


def test_the_lab_export_names_ports_4_and_3(tmp_path, lab_dsn):
    """The same measurement replicated to the lab database: its export names ports 4 and 3."""
    cfg = mapped_bench(tmp_path, "mapped")
    cfg.lab.dsn, cfg.lab.retry_s = lab_dsn, 0.2
    a = PhaseConfig.random(4, 6, 6, 2, seed=21)
    with embedded_daemon(cfg) as (sim, service), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        m = c.push_measure(a)
        assert m.receive_ports == (4, 3) and m.params == ("S41", "S31") and m.config_hash == a.hash
        wait_replicated(lab_dsn, cfg.name, cfg.daemon.store)
    # the lab's export, from its PostgreSQL records
    with LabStore(lab_dsn) as lab:
        (rec,) = lab.query("measurement", bench=cfg.name, config=a.hash, limit=1)
    path = to_touchstone(rec, tmp_path / "lab")
    assert rec["latched"] == m.latched
    assert path.endswith(".s4p") and "! measured: S41, S31" in open(path).read()
    np.testing.assert_allclose(s_column(path, 4), m.s[:, 0], rtol=1e-9)
    np.testing.assert_allclose(s_column(path, 3), m.s[:, 1], rtol=1e-9)


def test_the_python_api_labels_a_measurement_as_the_daemon_does(tmp_path):
    cfg = mapped_bench(tmp_path, "alike")
    a = PhaseConfig.random(4, 6, 6, 2, seed=22)
    with SimBench(cfg) as sim, open_devices(sim.resolved_config()) as (board, vna):
        store = Store(cfg.daemon.store)
        try:

            def by_daemon(action):
                server = BenchServer(BenchService(sim.resolved_config(), board, vna, store, clock=sim.clock.now))
                ready = threading.Event()
                thread = threading.Thread(target=server.serve, args=(ready,), daemon=True)
                thread.start()
                try:
                    assert ready.wait(10)
                    with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
                        return action(c)
                finally:
                    server.stop()
                    thread.join(30)

            def alike(d, p, latch_fields=("crc", "boot_id", "latches")):
                for k in ("config_hash", "flag", "receive_ports", "source_port", "params", "snapshot"):
                    assert getattr(d, k) == getattr(p, k), k
                # every other field of the record too (settings, temperature, ..); the id and time are each sweep's own
                own = {"measurement", "created_at", "latched"}
                assert {k: v for k, v in d.record().items() if k not in own} == {
                    k: v for k, v in p.record().items() if k not in own
                }
                assert sorted(d.latched) == sorted(p.latched) == sorted(latch_fields)
                np.testing.assert_array_equal(d.s, p.s)  # noise off: the same pattern measures the same

            verified = by_daemon(lambda c: (c.push(a), c.measure())[1])
            mine = Bench(sim.resolved_config(), board, vna, store).measure()
            assert verified.config_hash == a.hash and verified.flag is None
            alike(verified, mine)
            assert mine.latched == verified.latched  # the same board, untouched in between: the same report
            # a board that rebooted after the push: both label what it reads back, flagged
            unexpected = by_daemon(lambda c: (c.push(a), reboot(sim.firmwares[0]), c.measure())[2])
            shown = PhaseConfig(sim.firmwares[0].active_codes(), cfg.geometry.bits)
            assert unexpected.config_hash == shown.hash != a.hash and unexpected.flag == UNEXPECTED
            api = Bench(sim.resolved_config(), board, vna, store)
            api.push(a)
            reboot(sim.firmwares[0])
            alike(unexpected, api.measure())
        finally:
            store.close()
