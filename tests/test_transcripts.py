"""The exact conversations of the drivers, asserted string for string and byte for byte (tests/transcript.py)."""

import numpy as np
import pytest
import pyvisa.util
from transcript import SMP_PUSH, ScriptedLink, ScriptError, expected_scpi

from drivers.board import BoardVerifyError
from drivers.smp import MsgType, SMPMessage, encode_frame
from drivers.smp_board import SMPBoard
from drivers.vna import KeysightENA, KeysightPNA, RohdeSchwarzZNB
from simhw.values.phase_config import PhaseConfig
from simhw.values.vna_models import MODELS

S21 = np.array([0.1 + 0.2j, -0.3 + 0.05j, 0.02 - 0.4j])
S31 = np.array([-0.01 + 0.0j, 0.5 - 0.5j, 0.25 + 0.125j])


def real_block(values):
    """A REAL,64 block of real values, little-endian."""
    return bytes(pyvisa.util.to_ieee_block(list(map(float, values)), "d", False))


def block(trace):
    """The REAL,64 block a VNA sends for a complex trace: re, im interleaved, little-endian (FORM:BORD SWAP)."""
    return bytes(pyvisa.util.to_ieee_block(np.column_stack([trace.real, trace.imag]).ravel().tolist(), "d", False))


F3 = np.array([27.9e9, 28.0e9, 28.1e9])


def ok(value: str) -> str:
    """The reply to ``<query>;:SYST:ERR?`` when the instrument has no error."""
    return f'{value};+0,"No error"'


def limits(model: str, ifbw_q: str, ports_q: str, plus: str = "+") -> list:
    """The limit queries at open, answered with the model's data-sheet figures."""
    lim, err = MODELS[model].limits, f'{plus}0,"No error"'
    return [
        ("SENS1:FREQ:STAR? MIN;:SYST:ERR?", f"{lim.f_min:+.11E};{err}"),
        ("SENS1:FREQ:STOP? MAX;:SYST:ERR?", f"{lim.f_max:+.11E};{err}"),
        ("SENS1:SWE:POIN? MAX;:SYST:ERR?", f"{lim.max_points:+d};{err}"),
        (f"{ifbw_q}? MIN;:SYST:ERR?", f"{lim.ifbw_min:+.11E};{err}"),
        (f"{ifbw_q}? MAX;:SYST:ERR?", f"{lim.ifbw_max:+.11E};{err}"),
        ("SOUR1:POW? MIN;:SYST:ERR?", f"{lim.power_min:+.11E};{err}"),
        ("SOUR1:POW? MAX;:SYST:ERR?", f"{lim.power_max:+.11E};{err}"),
        (f"{ports_q};:SYST:ERR?", f"{lim.ports};{err}"),
    ]


SETTINGS = [
    ("SENS1:SWE:TYPE LIN", None),
    ("SENS1:FREQ:STAR 27900000000.0", None),
    ("SENS1:FREQ:STOP 28100000000.0", None),
    ("SENS1:SWE:POIN 3", None),
]

KEYSIGHT = [
    ("*IDN?", "Keysight Technologies,N5227B,MY1234,A.15.20.07"),
    ("*OPT?", '"400,010"'),
    ("*CLS", None),
    ("FORM:BORD SWAP", None),
    ("FORM REAL,64", None),
    *limits("N5227B", "SENS1:BWID", "SYST:CAP:HARD:PORT:COUN?"),
    *SETTINGS,
    ("SENS1:BWID 1000.0", None),
    ("SOUR1:POW -10.0", None),
    ("SENS1:AVER OFF", None),  # no averaging asked: off, whatever the instrument had
    # the operator's CH1_S11_1 stays; a trace simhw left behind (a crashed session) is replaced
    ("CALC1:PAR:CAT:EXT?", '"CH1_S11_1,S11,simhw_CH1_S21,S21"'),
    ("CALC1:PAR:DEL 'simhw_CH1_S21'", None),
    ("CALC1:PAR:EXT 'simhw_CH1_S21',S21", None),
    ("DISP:WIND1:CAT?", '"1"'),
    ("DISP:WIND1:TRAC2:FEED 'simhw_CH1_S21'", None),
    ("CALC1:PAR:EXT 'simhw_CH1_S31',S31", None),
    ("DISP:WIND1:TRAC3:FEED 'simhw_CH1_S31'", None),
    ("SYST:ERR?", '+0,"No error"'),
    ("SENS1:X?", real_block(F3)),
    ("SENS1:CORR?", "0"),
    ("TRIG:SOUR IMM", None),
    ("SENS1:SWE:MODE SING", None),
    ("SENS1:SWE:TIME?", "+4.03000000000E-03"),
    ("*OPC?", "+1"),
    ("CALC1:PAR:SEL 'simhw_CH1_S21'", None),
    ("CALC1:DATA? SDATA", block(S21)),
    ("CALC1:PAR:SEL 'simhw_CH1_S31'", None),
    ("CALC1:DATA? SDATA", block(S31)),
]
CLOSE_KEYSIGHT = [("CALC1:PAR:DEL 'simhw_CH1_S21'", None), ("CALC1:PAR:DEL 'simhw_CH1_S31'", None), ("*OPC?", "+1")]

ROHDE = [
    ("*IDN?", "Rohde-Schwarz,ZNA43-4Port,1332450044000001,2.70"),
    ("*OPT?", "ZNA-B91,ZNA-K2"),
    ("*CLS", None),
    ("FORM:BORD SWAP", None),
    ("FORM REAL,64", None),
    *limits("ZNA43", "SENS1:BAND", "INST:PORT:COUN?", plus=""),
    *SETTINGS,
    ("SENS1:BAND 1000.0", None),
    ("SOUR1:POW -10.0", None),
    ("SENS1:AVER OFF", None),
    ("SENS1:SWE:COUN 1", None),  # one sweep per single sweep, not averaged
    # no port offsets on the measured ports: they would be in the unformatted data simhw reads
    ("SENS1:CORR:EDEL1 0", None),
    ("SENS1:CORR:EDEL2 0", None),
    ("SENS1:CORR:EDEL3 0", None),
    ("CALC1:PAR:CAT?", "'Trc1,S21'"),
    ("CALC1:PAR:SDEF 'simhw_CH1_S21','S21'", None),
    ("CALC1:PAR:SDEF 'simhw_CH1_S31','S31'", None),
    ("SYST:ERR?", '0,"No error"'),
    ("CALC1:DATA:STIM?", real_block(F3)),
    ("SENS1:CORR?", "1"),
    ("SENS1:CORR:CSET?", "'factory_28G'"),
    ("TRIG1:SOUR IMM", None),
    ("INIT1:CONT OFF", None),
    ("INIT1:IMM; *WAI", None),
    ("SENS1:SWE:TIME?", "0.00403"),
    ("*OPC?", "1"),
    ("CALC1:PAR:SEL 'simhw_CH1_S21'", None),
    ("CALC1:DATA? SDAT", block(S21)),
    ("CALC1:PAR:SEL 'simhw_CH1_S31'", None),
    ("CALC1:DATA? SDAT", block(S31)),
]

ENA = [
    ("*IDN?", "Keysight Technologies,E5080B,MY1234,A.15.20.07"),
    ("*OPT?", '"420"'),
    ("*CLS", None),
    ("FORM:BORD SWAP", None),
    ("FORM:DATA REAL", None),
    *limits("E5080B", "SENS1:BWID", "SERV:PORT:COUN?"),
    ("DISP:WIND1:ACT", None),  # cal coefficients load into the active channel
    *SETTINGS,
    ("SENS1:BWID 1000.0", None),
    ("SOUR1:POW -10.0", None),
    ("SENS1:AVER:COUN 4", None),
    ("SENS1:AVER ON", None),
    ("TRIG:AVER ON", None),
    ("TRIG:SCOP ALL", None),
    ("TRIG:POIN OFF", None),  # TRIG:SING sweeps simhw's channel, whole
    ("MMEM:LOAD:CHAN:COEF 'simhw'", None),
    # the operator has two traces: simhw's are 3 and 4
    ("CALC1:PAR:COUN?", "2"),
    ("CALC1:PAR:COUN 4", None),
    ("CALC1:PAR3:DEF S21", None),
    ("CALC1:PAR4:DEF S31", None),
    ("SYST:ERR?", '+0,"No error"'),
    ("SENS1:FREQ:DATA?", real_block(F3)),
    ("SENS1:CORR:STAT?", "1"),
    ("SENS1:CORR:PROP?", '"simhw"'),
    ("TRIG:SOUR BUS", None),
    ("INIT1:CONT ON", None),
    ("TRIG:SING", None),
    ("SENS1:SWE:TIME?", "+4.03000000000E-03"),
    ("*OPC?", "+1"),
    ("CALC1:TRAC3:DATA:SDAT?", block(S21)),
    ("CALC1:TRAC4:DATA:SDAT?", block(S31)),
]
CLOSE_ENA = [("CALC1:PAR:COUN 2", None), ("*OPC?", "+1")]


@pytest.mark.parametrize(
    "cls, script, model, kw, correction",
    [
        (KeysightPNA, KEYSIGHT, "N5227B", {}, {"correction": False, "cal_set": ""}),
        (RohdeSchwarzZNB, ROHDE, "ZNA43-4Port", {}, {"correction": True, "cal_set": "factory_28G"}),
        (KeysightENA, ENA, "E5080B", {"cal_set": "simhw", "averaging": 4}, {"correction": True, "cal_set": "simhw"}),
    ],
)
def test_configure_and_measure_conversation(cls, script, model, kw, correction):
    with expected_scpi(cls, script, **kw) as vna:
        vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))
        traces = vna.measure()
        assert vna.model == model
        np.testing.assert_array_equal(vna.frequencies(), F3)  # read back, not computed
        assert {k: vna.measurement_settings()[k] for k in correction} == correction
    np.testing.assert_array_equal(traces["S21"], S21)
    np.testing.assert_array_equal(traces["S31"], S31)


@pytest.mark.parametrize(
    "cls, script, close, kw",
    [(KeysightPNA, KEYSIGHT, CLOSE_KEYSIGHT, {}), (KeysightENA, ENA, CLOSE_ENA, {"cal_set": "simhw", "averaging": 4})],
)
def test_closing_removes_only_simhws_traces(cls, script, close, kw):
    with expected_scpi(cls, script + close, **kw) as vna:
        vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))
        vna.measure()
        vna.close()


def test_a_model_other_than_the_bench_files_is_refused():
    from drivers.vna import VNAError

    with pytest.raises(VNAError, match="is a N5227B, the bench file says N5222B"):
        with expected_scpi(KeysightPNA, KEYSIGHT[:1], model="N5222B") as vna:
            vna.open()
    with pytest.raises(VNAError, match="speaks the rs dialect"):
        with expected_scpi(KeysightPNA, ROHDE[:1]) as vna:
            vna.open()


def test_a_conversation_that_differs_is_caught():
    at = KEYSIGHT.index(("SENS1:FREQ:STAR 27900000000.0", None))
    wrong = [*KEYSIGHT[:at], ("SENS1:FREQ:STAR 27.9e9", None), *KEYSIGHT[at + 1 :]]
    with pytest.raises(ScriptError, match="SENS1:FREQ:STAR 27900000000.0"):
        with expected_scpi(KeysightPNA, wrong) as vna:
            vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))


def test_a_rejected_setting_sends_nothing():
    at = KEYSIGHT.index(("SENS1:SWE:TYPE LIN", None))
    with expected_scpi(KeysightPNA, KEYSIGHT[:at]) as vna:
        vna.open()
        with pytest.raises(ValueError, match="outside"):
            vna.configure(1e12, 2e12, 3)


def test_smp_push_with_readback_conversation():
    link = ScriptedLink(SMP_PUSH)
    board = SMPBoard(link, first_seq=0, session=0x5E55)
    assert not link.is_open  # constructing the driver does no I/O
    cfg = PhaseConfig(np.array([[[0, 1], [2, 3]]], np.uint16), 2)
    with board:
        assert (board.info.serial, board.info.shape, board.info.bits) == ("T1", (1, 2, 2), 2)
        assert board.push(cfg) == cfg.hash
    link.assert_done()


def test_smp_readback_that_differs_is_a_verify_error():
    shows_other = encode_frame(SMPMessage(MsgType.ACK, 4, bytes([0xE5]), version=2)).hex()  # codes 1,1,2,3 back
    acks = SMP_PUSH[1][1]
    link = ScriptedLink([SMP_PUSH[0], (SMP_PUSH[1][0], acks[: acks.index("06534d028004")] + shows_other)])
    board = SMPBoard(link, first_seq=0, session=0x5E55)
    batch = board.push_many([PhaseConfig(np.array([[[0, 1], [2, 3]]], np.uint16), 2)], attempts=1)
    assert batch.done == 0 and isinstance(batch.error, BoardVerifyError) and "1 atoms" in str(batch.error)
    link.assert_done()


def lying_block(trace, claimed: int) -> bytes:
    """A definite-length block whose header claims ``claimed`` data bytes."""
    data = np.column_stack([trace.real, trace.imag]).ravel().astype("<f8").tobytes()
    digits = str(claimed).encode()
    return b"#" + str(len(digits)).encode() + digits + data


@pytest.mark.parametrize(
    "reply, match",
    [
        (lying_block(S21, 96), "malformed"),  # the header claims more bytes than came
        (lying_block(S21, 47), "malformed|points"),  # fewer, and not a whole number of values
        (b"#9" + b"0" * 3, "malformed"),  # a header cut short
        (block(S21)[:20], "malformed"),  # the data cut short
        (block(np.array([np.nan + 0j, 0.1 + 0j, 0.2j])), "non-finite"),
        (block(S21[:2]), "2 points"),  # a trace with a missing point
    ],
)
def test_malformed_trace_blocks_are_vna_errors(reply, match):
    from drivers.vna import VNAError

    script = KEYSIGHT[:-3] + [("CALC1:DATA? SDATA", reply)]
    with pytest.raises(VNAError, match=match):
        with expected_scpi(KeysightPNA, script) as vna:
            vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))
            vna.measure()


@pytest.mark.parametrize("reply", ["", "garbage", "NaN", "9.9E37 ms"])
def test_a_sweep_time_that_is_not_a_number_is_a_vna_error(reply):
    from drivers.vna import VNAError

    at = next(i for i, (cmd, _) in enumerate(KEYSIGHT) if cmd == "SENS1:SWE:TIME?")
    script = KEYSIGHT[:at] + [("SENS1:SWE:TIME?", reply)]
    with pytest.raises(VNAError):
        with expected_scpi(KeysightPNA, script) as vna:
            vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))
            vna.measure()


def test_a_stimulus_read_in_the_wrong_byte_order_is_caught():
    """An instrument that named the byte orders the other way round would send the stimulus big-endian
    after FORM:BORD SWAP: the values read back are outside its range, which the driver reports."""
    from drivers.vna import VNAError

    at = KEYSIGHT.index(("SENS1:X?", real_block(F3)))
    other_order = bytes(pyvisa.util.to_ieee_block(F3.tolist(), "d", True))
    with pytest.raises(VNAError, match="wrong byte order"):
        with expected_scpi(KeysightPNA, KEYSIGHT[:at] + [("SENS1:X?", other_order)]) as vna:
            vna.configure(27.9e9, 28.1e9, 3, ifbw=1e3, power=-10, params=("S21", "S31"))
