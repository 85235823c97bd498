import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import skrf

from drivers.board import BoardConnectionError
from drivers.list_measurement import ListMeasurementError, triggered_list_measurement
from drivers.smp_board import SMPBoard
from drivers.vna import open_vna
from sim_backend.bench import SimBench
from simhw.values.bench_config import BenchConfig, BenchConfigError
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig


def quiet_config(**sim):
    cfg = BenchConfig()
    cfg.simulation.noise = False
    for k, v in sim.items():
        setattr(cfg.simulation, k, v)
    return cfg


def test_triggered_list_measurement_matches_the_model():
    with (
        SimBench(quiet_config()) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("keysight", bench.vna_resource) as vna,
    ):
        configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(40)]
        got, resp = triggered_list_measurement(board, vna, configs, 28e9, ifbw=10e3)
        assert got == configs and resp.shape == (40,)
        truth = bench.truth.response(np.stack([c.codes for c in configs]), 2, [28e9])[:, 0, 0]
        np.testing.assert_allclose(resp, truth, rtol=1e-12)
        # the VNA is back to a normal sweep afterwards
        vna.configure(27.5e9, 28.5e9, 5, params=("S21",))
        assert vna.measure()["S21"].shape == (5,)


def test_list_measurement_detects_missed_triggers():
    with (
        SimBench(quiet_config()) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("keysight", bench.vna_resource) as vna,
    ):
        bench.firmwares[0].latch_time = 1.0  # far slower than the VNA's points: triggers are missed
        with pytest.raises(ListMeasurementError, match="missed"):
            triggered_list_measurement(board, vna, [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(5)], 28e9)


@pytest.mark.parametrize("ports", [1, 2])
def test_touchstone_round_trip_through_scikit_rf(tmp_path, ports):
    rng = np.random.default_rng(0)
    f = np.linspace(27e9, 29e9, 7)
    s = rng.normal(size=(7, ports)) + 1j * rng.normal(size=(7, ports))
    m = Measurement("abc123", f, s, receive_ports=tuple(range(2, 2 + ports)), settings={"ifbw": 1e3})
    path = m.to_touchstone(tmp_path / "meas")
    assert path.endswith(f".s{ports + 1}p")
    ntwk = skrf.Network(path)
    np.testing.assert_allclose(ntwk.f, f)
    for k in range(ports):
        np.testing.assert_allclose(ntwk.s[:, k + 1, 0], s[:, k], rtol=1e-11)
        np.testing.assert_allclose(ntwk.s[:, 0, k + 1], s[:, k], rtol=1e-11)


def test_measured_sweep_exported_to_touchstone(tmp_path):
    with (
        SimBench(quiet_config()) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("keysight", bench.vna_resource) as vna,
    ):
        cfg = PhaseConfig.random(4, 6, 6, 2, seed=9)
        board.push(cfg)
        vna.configure(27.5e9, 28.5e9, 11, params=("S21", "S31"))
        d = vna.measure()
        m = Measurement(cfg.hash, vna.frequencies(), np.stack([d["S21"], d["S31"]], -1), receive_ports=(2, 3))
        ntwk = skrf.Network(m.to_touchstone(tmp_path / "sweep"))
        np.testing.assert_allclose(ntwk.s[:, 1, 0], d["S21"], rtol=1e-11)
        np.testing.assert_allclose(ntwk.s[:, 2, 0], d["S31"], rtol=1e-11)


def test_bench_file_round_trip_and_errors(tmp_path):
    cfg = BenchConfig(name="x")
    path = tmp_path / "b.toml"
    path.write_text(cfg.to_toml())
    back = BenchConfig.load(path)
    assert back.to_dict() == cfg.to_dict()
    for text, match in [
        ("[geometry]\nlayers = 0\n", r"geometry.layers = 0 is outside 1\.\.255"),
        ("[geometry]\nlayerz = 2\n", "unknown key geometry.layerz"),
        ("[gometry]\n", "unknown section"),
        ("[sweep]\npoints = 'many'\n", "sweep.points must be int"),
        ("[vna]\nfamily = 'agilent'\n", "vna.family = 'agilent': must be"),
        ("[board]\nprotocol = 'open-ris'\n", "16x16 1-bit"),
        ("name = [\n", "not valid TOML"),
        ("[simulation]\ntransport = 'usb'\n", "'pty', 'tcp' or 'inproc'"),
        ("[daemon]\nbusy_poll_us = -1\n", r"daemon.busy_poll_us = -1.0 is outside 0..1e\+06"),
    ]:
        path.write_text(text)
        with pytest.raises(BenchConfigError, match=match):
            BenchConfig.load(path)


def test_simulated_bench_with_open_ris_boards_and_tcp():
    cfg = quiet_config(transport="tcp")
    cfg.geometry.layers, cfg.geometry.rows, cfg.geometry.cols, cfg.geometry.bits = 2, 16, 16, 1
    cfg.board.protocol = "open-ris"
    cfg.board.urls = ["sim", "sim"]
    from drivers.composite import CompositeBoard
    from drivers.open_ris import OpenRISBoard

    with SimBench(cfg) as bench:
        assert all(u.startswith("socket://127.0.0.1:") for u in bench.board_urls)
        board = CompositeBoard([OpenRISBoard(u) for u in bench.board_urls])
        c = PhaseConfig.random(2, 16, 16, 1, seed=2)
        board.push(c)
        with open_vna("keysight", bench.vna_resource) as vna:
            vna.configure(28e9, 28e9, 1, params=("S21",))
            np.testing.assert_allclose(vna.measure()["S21"], bench.truth.response(c.codes, 1, [28e9])[:, 0], rtol=1e-12)
        board.close()


def test_sim_up_command_starts_and_stops_cleanly(tmp_path):
    out = tmp_path / "resolved.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simhw", "sim", "up", "--write-bench", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "ready":
                break
        assert lines[-1] == "ready", (lines, proc.stderr.read() if proc.poll() is not None else "")
        assert lines[0].startswith("board[0] smp: /dev/pts/") and lines[1].startswith("vna keysight N5227B: TCPIP0::")
        # every way the instrument is reached, each a resource string pyvisa-py opens
        kinds = {line.split(":")[0]: line.split(": ", 1)[1] for line in lines[2:] if line.startswith("vna ")}
        assert kinds["vna socket"].endswith("::SOCKET") and "::hislip0," in kinds["vna hislip"]
        for resource in kinds.values():
            with open_vna("keysight", resource) as vna:
                assert "N5227B" in vna.identify()
        resolved = BenchConfig.load(out)
        with SMPBoard(resolved.board.urls[0]) as board, open_vna("keysight", resolved.vna.resource) as vna:
            board.push(PhaseConfig.random(4, 6, 6, 2, seed=1))
            vna.configure(27.5e9, 28.5e9, 3, params=("S21",))
            assert vna.measure()["S21"].shape == (3,)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read().strip().endswith("stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_inproc_board_serves_this_process_only(tmp_path):
    """An embedded board (simulation.transport = "inproc") is a simhw:// port of the process that
    started the bench: reachable by pyserial there, refused by `simhw sim up`, unknown elsewhere."""
    cfg = quiet_config(transport="inproc")
    with SimBench(cfg) as bench:
        url = bench.board_urls[0]
        assert url.startswith("simhw://board-")
        with SMPBoard(url) as board:
            c = PhaseConfig.random(4, 6, 6, 2, seed=3)
            board.push(c)
            np.testing.assert_array_equal(bench.firmwares[0].active_codes(), c.codes)
    with pytest.raises(BoardConnectionError, match="no simulated board"):
        SMPBoard(url).open()  # the bench stopped: its board is gone
    path = tmp_path / "bench.toml"
    path.write_text(cfg.to_toml())
    out = subprocess.run(
        [sys.executable, "-m", "simhw", "sim", "up", "--bench", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "serves only the process that starts the bench" in out.stderr


@pytest.mark.parametrize("rate", [0.0, 5.0])
def test_drift_on_an_accelerated_clock_moves_the_measured_response(rate):
    cfg = quiet_config(drift_k_per_hour=rate, clock_speed=3600.0)  # one simulated hour per second
    with (
        SimBench(cfg) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("keysight", bench.vna_resource) as vna,
    ):
        board.push(PhaseConfig.random(4, 6, 6, 2, seed=5))
        vna.configure(28e9, 28e9, 1, params=("S21",))
        t_before = board.status().temperature_c
        before = vna.measure()["S21"][0]
        bench.clock.advance(2 * 3600)  # a clock jump: two more hours
        time.sleep(0.2)
        after = vna.measure()["S21"][0]
        t_after = board.status().temperature_c
        change = abs(after - before) / abs(before)
        if rate:
            assert change > 0.05 and t_after - t_before == pytest.approx(rate * 2.2, abs=1.0)
            assert bench.truth.delta_t() > 10.0
        else:
            assert change == 0.0 and t_after == t_before
