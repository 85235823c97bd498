"""The simulated board's trigger output driving the VNA's external trigger input: an R&S per-point
externally triggered list sweep (TRIG:SOUR EXT, TRIG:LINK 'POINt') of N configurations in one sweep, the
board's sequencer stepping on its own timer, every point measured in the configuration the board latched
with the pulse that triggered it."""

import numpy as np
import pytest
import pyvisa
from vna_helpers import vna_bench

from drivers.smp_board import SMPBoard
from sim_backend.bench import SimBench
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(120)


def sdata(r) -> np.ndarray:
    raw = np.asarray(r.query_binary_values("CALC1:DATA? SDAT", datatype="d", container=np.array))
    return raw[0::2] + 1j * raw[1::2]


@pytest.mark.parametrize("band, taken", [(10e3, 1), (200.0, 2)])
def test_rs_point_triggered_list_sweep_from_the_boards_trigger_output(band, taken):
    """``band`` sets the point time: 10 kHz (0.11 ms) measures at every 4 ms pulse; 200 Hz (5.01 ms) is
    still measuring when the next pulse comes, which the analyzer ignores, so it measures every other
    configuration (``taken``)."""
    n = 20
    with SimBench(vna_bench("rs", "ZNA43")) as bench, SMPBoard(bench.board_urls[0]) as board:
        configs = [PhaseConfig.random(4, 6, 6, 2, seed=100 + i) for i in range(n)]
        board.upload_slots(dict(enumerate(configs)))
        board.define_sequence(list(range(n)))
        board.arm_timer(period_s=4e-3)
        r = pyvisa.ResourceManager("@py").open_resource(
            bench.vna_resource, read_termination="\n", write_termination="\n", timeout=10000
        )
        try:
            points = n // taken
            r.write("*RST;:FORM REAL,64;:FORM:BORD SWAP")
            r.write(f"SENS1:SWE:TYPE CW;:SENS1:FREQ:CW 28 GHZ;:SENS1:SWE:POIN {points};:SENS1:BAND {band}")
            r.write("*CLS;:TRIG1:SOUR EXT;:TRIG1:LINK 'POINt';:INIT1:CONT OFF;:INIT1:IMM;*OPC")
            assert int(r.query("*ESR?")) & 1 == 0  # armed: the sweep waits for the board
            board.start_sequence()  # config 0 latched now, then one every 4 ms, each with a trigger pulse
            assert r.query("*OPC?").strip() == "1"  # the sweep ends with its last point
            got = sdata(r)
            assert r.query("SYST:ERR?").strip() == '0,"No error"'
        finally:
            r.close()
        st = board.status()
        assert st.seq_steps == n - 1  # the board ran its own sequence: the VNA triggered nothing
        shown = np.stack([c.codes for c in configs[::taken]])
        truth = bench.truth.response(shown, 2, [28e9])[:, 0, 0]
        np.testing.assert_allclose(got, truth, rtol=1e-12)
        others = bench.truth.response(np.stack([c.codes for c in configs]), 2, [28e9])[:, 0, 0]
        assert len({np.round(v, 9) for v in others}) == n  # N distinct configurations, N distinct responses


def test_an_armed_sweep_waits_for_the_board_and_abort_ends_the_wait():
    with SimBench(vna_bench("rs", "ZNA43")) as bench:
        vna = bench.vna
        vna.execute("*CLS;:TRIG1:SOUR EXT;:TRIG1:LINK 'POIN';:INIT1:CONT OFF;:INIT1:IMM;*OPC")
        assert vna.execute("*ESR?")[0] == b"0"  # no pulse, no sweep: the operation is pending
        vna.execute("ABOR")  # the sweep is abandoned: nothing is pending any more
        assert vna.execute("*OPC;*ESR?")[0] == b"1"
