"""Public clients against the simulated VNA, unmodified: scikit-rf's PNA, ZNA, ZVA and Cobalt drivers,
and pyvisa-py's HiSLIP and VXI-11 sessions reading the same trace as the raw socket."""

import numpy as np
import pytest
import pyvisa
from vna_helpers import vna_bench

from drivers.smp_board import SMPBoard
from sim_backend.bench import SimBench
from simhw.values.phase_config import PhaseConfig

skrf_vna = pytest.importorskip("skrf.vi.vna")


def driver(name: str):
    if name == "PNA":
        from skrf.vi.vna.keysight import PNA

        return PNA
    if name in ("ZNA", "ZVA"):
        from skrf.vi.vna import rohde_schwarz

        return getattr(rohde_schwarz, name)
    from skrf.vi.vna.cmt.cobalt import Cobalt

    return Cobalt


CASES = [
    ("PNA", "keysight", "N5227B", 27.5e9, 28.5e9),
    ("ZNA", "rs", "ZNA43", 27.5e9, 28.5e9),
    ("ZVA", "rs", "ZVA40", 27.5e9, 28.5e9),
    ("Cobalt", "ena", "C4220", 10e9, 12e9),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, family, model, start, stop", CASES)
@pytest.mark.parametrize("interface", ["socket", "hislip"])
def test_scikit_rf_driver_reads_the_simulated_truth(name, family, model, start, stop, interface):
    with SimBench(vna_bench(family, model)) as bench, SMPBoard(bench.board_urls[0]) as board:
        cfg = PhaseConfig.random(4, 6, 6, 2, seed=11)
        board.push(cfg)
        vna = driver(name)(bench.vna_resources()[interface])
        try:
            vna.ch1.freq_start = start
            vna.ch1.freq_stop = stop
            vna.ch1.npoints = 21
            s21 = vna.ch1.get_sdata(2, 1)
            s11 = vna.ch1.get_sdata(1, 1)
        finally:
            vna._resource.close()
        f = np.linspace(start, stop, 21)
        np.testing.assert_allclose(s21.f, f, rtol=1e-12)
        truth = bench.dut.s_params(f)
        np.testing.assert_allclose(s21.s[:, 0, 0], bench.truth.response(cfg.codes, 2, f)[:, 0], rtol=1e-9)
        np.testing.assert_allclose(s21.s[:, 0, 0], truth[:, 1, 0], rtol=1e-9)
        np.testing.assert_allclose(s11.s[:, 0, 0], truth[:, 0, 0], rtol=1e-9)
        assert bench.vna.errors == []  # the drivers' whole conversation was valid SCPI for the simulated model


def read_trace(resource: str) -> tuple[str, np.ndarray, np.ndarray]:
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=5000)
    try:
        idn = r.query("*IDN?").strip()
        r.write("SENS1:FREQ:STAR 27.9 GHZ;STOP 28.1 GHZ;:SENS1:SWE:POIN 11;:FORM REAL,64;:FORM:BORD SWAP")
        r.write("CALC1:PAR:EXT 'probe',S21;:CALC1:PAR:SEL 'probe';:SENS1:SWE:MODE SING")
        assert r.query("*OPC?").strip() == "1"
        data = np.asarray(r.query_binary_values("CALC1:DATA? SDATA", datatype="d", container=np.array))
        freqs = np.asarray(r.query_binary_values("SENS1:X?", datatype="d", container=np.array))
        r.write("CALC1:PAR:DEL 'probe'")
        assert r.query("SYST:ERR?").strip() == '+0,"No error"'
        stb = int(r.query("*STB?")) if resource.endswith("SOCKET") else r.read_stb()  # a socket has no viReadSTB
        assert stb & 0x04 == 0  # no error queued
        r.write("BOGUS")
        stb = int(r.query("*STB?")) if resource.endswith("SOCKET") else r.read_stb()
        assert stb & 0x04  # the error queue bit, by the status query of each interface
        r.clear()  # device clear: HiSLIP AsyncDeviceClear, VXI-11 device_clear, socket drain
        assert r.query("SYST:ERR?").strip().startswith("-113")
    finally:
        r.close()
    return idn, freqs, data[0::2] + 1j * data[1::2]


@pytest.mark.timeout(60)
def test_hislip_and_vxi11_read_the_same_trace_as_the_socket(vxi11_portmapper):
    with SimBench(vna_bench("keysight", "N5227B", vna_vxi11=True)) as bench:
        res = bench.vna_resources()
        assert res["socket"].endswith("::SOCKET") and "::hislip0," in res["hislip"]
        assert res["vxi11"] == "TCPIP0::127.0.0.1::inst0::INSTR"  # found through the portmapper
        got = {kind: read_trace(r) for kind, r in res.items()}
        idn, freqs, trace = got["socket"]
        assert "N5227B" in idn
        np.testing.assert_array_equal(freqs, np.linspace(27.9e9, 28.1e9, 11))
        for kind in res:
            assert got[kind][0] == idn
            np.testing.assert_array_equal(got[kind][1], freqs)
            np.testing.assert_array_equal(got[kind][2], trace)


@pytest.mark.timeout(60)
def test_vxi11_buffers_the_response_and_reports_an_interrupted_query(vxi11_portmapper):
    with SimBench(vna_bench("rs", "ZNB20", vna_vxi11=True)) as bench:
        rm = pyvisa.ResourceManager("@py")
        r = rm.open_resource(
            bench.vna_resources()["vxi11"], read_termination="\n", write_termination="\n", timeout=3000
        )
        try:
            r.write("*IDN?")
            assert r.read_stb() & 0x10  # message available: the response waits to be read
            r.write("SYST:ERR?")  # a new message before the response was read
            assert r.read().strip() == '-410,"Query INTERRUPTED"'
            r.write("SENS1:FREQ:STAR?;STOP?")
            start, stop = (float(x) for x in r.read().strip().split(";"))
            assert (start, stop) == (100e3, 20e9)
            r.clear()
        finally:
            r.close()
