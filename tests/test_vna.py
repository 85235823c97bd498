import socket
import time

import numpy as np
import pytest

from drivers.smp_board import SMPBoard
from drivers.vna import KeysightPNA, RohdeSchwarzZNB, VNAError, VNALimits, VNATimeout, open_vna
from sim_backend.bench import SimBench
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

FAMILIES = ["keysight", "rs"]


def bench_config(family="keysight", noise=False, receive_ports=2):
    cfg = BenchConfig()
    cfg.vna.family = family
    cfg.simulation.noise = noise
    cfg.geometry.receive_ports = receive_ports
    return cfg


@pytest.fixture(params=FAMILIES)
def bench(request):
    with SimBench(bench_config(request.param)) as b:
        yield b


def test_pushed_config_changes_s21_exactly_as_the_model_predicts(bench):
    fam = bench.config.vna.family
    with SMPBoard(bench.board_urls[0]) as board, open_vna(fam, bench.vna_resource) as vna:
        assert isinstance(vna, KeysightPNA if fam == "keysight" else RohdeSchwarzZNB)
        vna.configure(27.5e9, 28.5e9, 21, ifbw=10e3, power=-10, params=("S21", "S31"))
        f = vna.frequencies()
        previous = None
        for seed in (1, 2):
            cfg = PhaseConfig.random(4, 6, 6, 2, seed=seed)
            board.push(cfg)
            data = vna.measure()
            truth = bench.truth.response(cfg.codes, 2, f)
            np.testing.assert_allclose(data["S21"], truth[:, 0], rtol=1e-12, atol=0)
            np.testing.assert_allclose(data["S31"], truth[:, 1], rtol=1e-12, atol=0)
            if previous is not None:
                assert np.max(np.abs(data["S21"] - previous)) > 0.1 * np.max(np.abs(previous))
            previous = data["S21"]
        assert vna.errors() == []


def test_noise_scales_with_if_bandwidth():
    cfg = bench_config(noise=True)
    with (
        SimBench(cfg) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("keysight", bench.vna_resource) as vna,
    ):
        c = PhaseConfig.random(4, 6, 6, 2, seed=3)
        board.push(c)
        std = {}
        for ifbw in (1e3, 100e3):
            vna.configure(28e9, 28e9, 201, ifbw=ifbw, power=-40, params=("S21",))
            truth = bench.truth.response(c.codes, 2, vna.frequencies())[:, 0]
            err = np.concatenate([vna.measure()["S21"] - truth for _ in range(3)])
            std[ifbw] = np.sqrt(np.mean(np.abs(err) ** 2))
        expected = np.sqrt(10 ** ((-174 + 10 * np.log10(1e3) + 10 + 40) / 10))
        assert std[1e3] == pytest.approx(expected, rel=0.15)
        assert std[100e3] / std[1e3] == pytest.approx(10.0, rel=0.15)  # noise power ~ IFBW


def test_scikit_rf_pna_driver_reads_the_same_s21():
    skrf_pna = pytest.importorskip("skrf.vi.vna.keysight").PNA
    with SimBench(bench_config()) as bench, SMPBoard(bench.board_urls[0]) as board:
        cfg = PhaseConfig.random(4, 6, 6, 2, seed=4)
        board.push(cfg)
        pna = skrf_pna(bench.vna_resource)
        try:
            pna.ch1.freq_start = 27.5e9
            pna.ch1.freq_stop = 28.5e9
            pna.ch1.npoints = 11
            pna.ch1.create_measurement("SKRF_S21", "S21")
            ntwk = pna.ch1.get_measurement("SKRF_S21")
            # its last command restores the ASCII data format without waiting: let the instrument finish it
            # before the next session sets its own (two sessions' commands are not ordered otherwise)
            pna.query("*OPC?")
        finally:
            pna._resource.close()
        with open_vna("keysight", bench.vna_resource) as vna:
            vna.configure(27.5e9, 28.5e9, 11, params=("S21",))
            ours = vna.measure()["S21"]
        np.testing.assert_allclose(ntwk.f, vna.frequencies())
        np.testing.assert_allclose(ntwk.s[:, 0, 0], ours, rtol=1e-12)
        np.testing.assert_allclose(ours, bench.truth.response(cfg.codes, 2, vna.frequencies())[:, 0], rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_out_of_range_settings_fail_before_anything_is_sent(family):
    with SimBench(bench_config(family)) as bench, open_vna(family, bench.vna_resource) as vna:
        before = vna.query("SENS1:FREQ:STAR?")
        with pytest.raises(ValueError, match="outside the .* range"):
            vna.configure(1e3, 28e9, 11)
        with pytest.raises(ValueError, match="points must be >= 1"):
            vna.configure(27e9, 28e9, -5)
        with pytest.raises(ValueError, match="not an S-parameter"):
            vna.configure(27e9, 28e9, 11, params=("S51",))
        with pytest.raises(ValueError, match="ifbw"):
            vna.ifbw = -1
        assert vna.query("SENS1:FREQ:STAR?") == before and vna.errors() == []


def test_instrument_rejection_is_an_exception_not_a_silent_sweep():
    with SimBench(bench_config()) as bench:
        vna = KeysightPNA(bench.vna_resource, limits=VNALimits(1.0, 1e12))  # a driver told the wrong limits
        with pytest.raises(VNAError, match=r'-222,"Data out of range'):
            vna.configure(27e9, 80e9, 11)
        vna.write("SENS1:FOO:BAR 3")
        assert any(e.startswith('-113,"Undefined header') for e in vna.errors())
        vna.close()


def test_stalled_vna_times_out_driver_recovers_server_serves_others():
    with SimBench(bench_config()) as bench:
        vna = KeysightPNA(bench.vna_resource, timeout_s=0.3)
        other = KeysightPNA(bench.vna_resource)
        vna.configure(28e9, 28.1e9, 11, params=("S21",))
        bench.vna.stall_next_opc = 1.5
        t0 = time.monotonic()
        with pytest.raises(VNATimeout, match="did not answer in time"):
            vna.sweep()
        assert time.monotonic() - t0 < 1.5
        assert other.identify().startswith("Keysight")  # other clients are still served
        time.sleep(1.6)
        data = vna.measure()  # a fresh session: no stale "1" from the stalled *OPC?
        assert data["S21"].shape == (11,)
        assert vna.query("*IDN?").startswith("Keysight")
        vna.close()
        other.close()


def test_dropped_connection_is_a_clear_error_then_recovers():
    with SimBench(bench_config()) as bench:
        vna = KeysightPNA(bench.vna_resource, timeout_s=1.0)
        vna.configure(28e9, 28.1e9, 11, params=("S21",))
        bench.server.drop_all()
        time.sleep(0.05)
        with pytest.raises(VNAError):
            vna.measure()
        data = vna.measure()  # reopened, settings re-applied by the driver
        assert data["S21"].shape == (11,)
        vna.close()


def test_scpi_server_is_strict_on_the_wire():
    with SimBench(bench_config()) as bench:
        s = socket.create_connection(("127.0.0.1", bench.server.port), timeout=2)
        try:
            # split across TCP writes, several commands merged in one message, only queries answered
            s.sendall(b"SENS1:SWE:PO")
            time.sleep(0.05)
            s.sendall(b"IN 5;:SENS1:FREQ:STAR 27e9\nSENS1:SWE:POIN?\n*IDN?\n")
            reply = b""
            while reply.count(b"\n") < 2:
                reply += s.recv(4096)
            assert reply == b"+5\nKeysight Technologies,N5227B,SIM000001,A.15.20.07\n"
            s.sendall(
                b"CALC1:PAR:EXT 'T1',S21\nCALC1:PAR:SEL 'T1'\nFORM:BORD SWAP\nFORM REAL,64\n"
                b"SENS1:SWE:MODE SING\nCALC1:DATA? SDATA\n"
            )
            data = b""
            while len(data) < 2 + 2 + 80 + 1:
                data += s.recv(4096)
            assert data[:4] == b"#280" and data[84:] == b"\n"  # 5 points x 2 x 8 bytes, one newline
            s.sendall(b"SENS1:SWE:MODE?\nSENS1:FREQ:STAR 1e15\nBOGUS:CMD\nSYST:ERR?\nSYST:ERR?\nSYST:ERR?\n")
            reply = b""
            while reply.count(b"\n") < 4:
                reply += s.recv(4096)
            lines = reply.decode().splitlines()
            assert lines[0] == "HOLD"  # a single sweep leaves the channel in hold
            assert lines[1].startswith('-222,"Data out of range') and lines[2].startswith('-113,"Undefined header')
            assert lines[3] == '+0,"No error"'
        finally:
            s.close()


def test_opc_waits_for_the_sweep_time():
    with SimBench(bench_config()) as bench, open_vna("keysight", bench.vna_resource) as vna:
        vna.configure(28e9, 28.1e9, 201, ifbw=1e3, params=("S21",))
        expected = vna.sweep_time()
        assert expected == pytest.approx(201 * (1e-3 + 10e-6) + 1e-3)
        t0 = time.monotonic()
        vna.sweep()
        assert time.monotonic() - t0 >= expected * 0.95
