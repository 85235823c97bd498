"""SCPI conformance of the simulated VNA, per family, played as raw transcripts through pyvisa-py.

Written from the standards' rules, not from what simhw's driver sends: IEEE 488.2 common commands
and the status model (sec. 10-11), SCPI-1999 vol. 1 ch. 6-7 (headers, compound messages, MIN/MAX/
DEF, suffix units, booleans, strings), the error codes of vol. 2 ch. 21, and each instrument's
documented preset state.
"""

import re

import numpy as np
import pytest
from vna_helpers import DelayLine, served

from simhw.values.vna_models import MODELS


def nr3(v: float, exponent_digits: int) -> str:
    """+d.dddddddddddE+dd: 12 significant digits, the exponent with at least ``exponent_digits`` digits."""
    mantissa, exponent = f"{v:+.11E}".split("E")
    return f"{mantissa}E{exponent[0]}{exponent[1:].zfill(exponent_digits)}"


def rs_real(v: float) -> str:  # R&S answers numbers plainly
    return str(int(v)) if float(v).is_integer() else f"{v:.12g}"


def numbers(model):
    """(real, integer) response formats of the model's family: the PNA help's examples print three
    exponent digits (+1.00000000000E+009), the ENA two, R&S plain numbers."""
    if model.family == "rs":
        return rs_real, lambda n: str(n)
    digits = 3 if model.family == "keysight" else 2
    return (lambda v: nr3(v, digits)), lambda n: f"{n:+d}"


@pytest.fixture(params=["N5227B", "E5071C", "M5180", "ZNB20", "ZNA43"])
def session(request):
    with served(request.param) as (inst, r):
        yield MODELS[request.param], inst, r


def play(r, steps):
    """Send each message; a step with a reply reads it and compares (a callable checks it)."""
    for message, want in steps:
        if want is None:
            r.write(message)
            continue
        got = r.query(message).strip()
        if callable(want):
            assert want(got), f"{message!r} -> {got!r}"
        else:
            assert got == want, f"{message!r} -> {got!r}, expected {want!r}"


def errors(r) -> list[int]:
    out = []
    for _ in range(120):
        e = r.query("SYST:ERR?").strip()
        code = int(e.split(",")[0])
        if code == 0:
            return out
        out.append(code)
    raise AssertionError("the error queue does not empty")


def test_ieee_488_2_status_model(session):
    model, inst, r = session
    zero = "0"
    play(
        r,
        [
            ("*ESR?", "128"),  # power-on
            ("*ESR?", zero),  # reading clears it
            ("*IDN?", model.idn(inst.serial)),
            ("*OPT?", ",".join(model.options) or "0"),
            ("*TST?", "0"),
            ("*ESE 60", None),
            ("*ESE?", "60"),  # CME | EXE | DDE | QYE
            ("*SRE 32", None),
            ("*SRE?", "32"),
            ("*STB?", zero),
            ("SENS1:FOO:BAR 1", None),  # undefined header: a command error (CME, ESR bit 5)
            ("*STB?", str(4 | 32 | 64)),  # error queue, event summary (ESR & ESE), master summary (STB & SRE)
            ("*ESR?", "32"),
            ("*STB?", "4"),  # the error is still queued
        ],
    )
    assert errors(r) == [-113]
    play(r, [("SENS1:SWE:POIN 0", None), ("*ESR?", "16")])  # out of range: an execution error (EXE, bit 4)
    assert errors(r) == [-222]
    play(
        r,
        [
            ("SENS1:FREQ:STAR? WHAT", None),
            ("*CLS", None),
            ("*STB?", zero),
            ("*ESR?", zero),
            ("SYST:ERR:COUN?", lambda v: int(v) == 0),
        ],
    )
    play(r, [("*OPC", None), ("*OPC?", "1"), ("*ESR?", "1")])  # *OPC sets the operation-complete bit
    play(r, [("*WAI", None), ("*ESR?", zero), ("*SRE?", "32"), ("*ESE?", "60")])  # *CLS keeps the enables


def test_headers_compound_messages_and_parameters(session):
    model, inst, r = session
    real, intg = numbers(model)
    lim = model.limits
    lo = max(lim.f_min, 1e6)
    start_now = 1e6 if lim.f_min <= 1e6 else lim.f_min  # 1000000.4 Hz is rounded to the 1 Hz resolution
    play(
        r,
        [
            ("SENS1:FREQ:STAR 1 GHZ;STOP 2000 MHZ", None),  # a relative header after ';' keeps the path
            ("SENS1:FREQ:STAR?;STOP?", f"{real(1e9)};{real(2e9)}"),
            (":SENS1:FREQ:STAR?;:SENS1:SWE:POIN?", f"{real(1e9)};{intg(201)}"),
            ("SENS1:FREQ:STAR?;*OPC?;STOP?", f"{real(1e9)};1;{real(2e9)}"),  # a common command keeps the path
            ("SENSE1:FREQUENCY:START?", real(1e9)),  # long form
            ("sens1:freq:star?", real(1e9)),  # case-insensitive short form
            ("FREQ:STAR?", real(1e9)),  # SENSe is the default node, the suffix defaults to 1
            ("SENS:FREQ:STOP?", real(2e9)),
            ("SENS1:BWID:RES 1.5KHZ", None),
            ("SENS1:BWID?", real(1.5e3)),  # an optional node, a unit
            ("SENS1:BAND 2 khz", None),
            ("SENS1:BWID:RESOLUTION?", real(2e3)),
            ("SENS1:FREQ:STAR 1.25E9HZ", None),
            ("SENS1:FREQ:STAR?", real(1.25e9)),
            ("SENS1:FREQ:CENT?;SPAN?", f"{real(1.625e9)};{real(0.75e9)}"),
            ("SENS1:FREQ:STAR? MIN", real(lim.f_min)),
            ("SENS1:FREQ:STOP? MAX", real(lim.f_max)),
            ("SENS1:FREQ:STOP? MAXIMUM", real(lim.f_max)),
            ("SENS1:SWE:POIN? MAX", intg(lim.max_points)),
            ("SENS1:SWE:POIN MAX;POIN?", intg(lim.max_points)),
            ("SENS1:SWE:POIN DEF;POIN?", intg(201)),
            ("SENS1:BWID? MIN", real(lim.ifbw_min)),
            ("SOUR1:POW? MAX", real(lim.power_max)),
            ("SENS1:FREQ:STAR MIN;STAR?", real(lim.f_min)),
            ("SENS1:FREQ:STAR 1000000.4", None),
            ("SENS1:FREQ:STAR?", real(start_now)),
            ("SENS1:AVER ON", None),
            ("SENS1:AVER?", "1"),
            ("SENS1:AVER:STAT 0", None),
            ("SENS1:AVER:STATE?", "0"),
            ("SENS1:AVER 1", None),
            ("SENS1:AVER?", "1"),
            ("SENS1:AVER OFF", None),
            ("SENS1:AVER?", "0"),
        ],
    )
    assert errors(r) == ([] if lo <= 1e6 else [-222])
    play(
        r,
        [
            ("SENS1:FREQ:STAR?;SENS1:FREQ:STOP?", real(start_now)),  # relative: SENS1:FREQ:SENS1:FREQ:STOP is undefined
            ("SENS1:FREQ:STOP 1e15", None),
            ("SENS1:FREQ:STOP?", real(2e9)),  # refused, unchanged
            ("SENS1:FREQ:STAR 1 XYZ", None),  # no such suffix
            ("SENS1:AVER MAYBE", None),
            ("SENS1:SWE:POIN", None),  # no parameter
            ("SENS1:SWE:POIN 11,12", None),  # one parameter too many
            ("SENS1:FREQ:STAR ABC", None),
            ("SENS1:FREQ:STAR?;STOP?", f"{real(start_now)};{real(2e9)}"),
        ],
    )
    assert errors(r) == [-113, -222, -131, -224, -109, -108, -104]


def test_error_queue_is_fifo_and_overflows_with_350(session):
    model, inst, r = session
    r.write(";".join(["BOGUS"] * 5))
    r.write("SENS1:SWE:POIN -3")
    assert errors(r) == [-113] * 5 + [-222]
    r.write(";".join(["BOGUS"] * 120))
    assert int(r.query("SYST:ERR:COUN?")) == 100
    got = errors(r)
    assert len(got) == 100 and got[-1] == -350 and set(got[:-1]) == {-113}


def test_segment_sweep_and_log_sweep(session):
    model, inst, r = session
    fam = model.family
    stim = {"keysight": "SENS1:X?", "ena": "SENS1:FREQ:DATA?", "rs": "CALC1:DATA:STIM?"}[fam]
    if fam == "keysight":
        segs = [
            "SENS1:SEGM1:ADD",
            "SENS1:SEGM1:FREQ:STAR 1E9",
            "SENS1:SEGM1:FREQ:STOP 2E9",
            "SENS1:SEGM1:SWE:POIN 3",
            "SENS1:SEGM2:ADD",
            "SENS1:SEGM2:FREQ:STAR 3 GHZ",
            "SENS1:SEGM2:FREQ:STOP 4 GHZ",
            "SENS1:SEGM2:SWE:POIN 2",
            "SENS1:SEGM1 ON;:SENS1:SEGM2 ON",
        ]
    elif fam == "ena":
        segs = ["SENS1:SEGM:DATA 5,0,0,0,0,0,2,1E9,2E9,3,3E9,4E9,2"]
    else:
        segs = ["SENS1:SEGM1:INS 1E9,2E9,3", "SENS1:SEGM2:INS 3 GHZ,4 GHZ,2"]
    for m in segs:
        r.write(m)
    r.write("SENS1:SWE:TYPE SEGMENT")
    np.testing.assert_allclose(r.query_ascii_values(stim), [1e9, 1.5e9, 2e9, 3e9, 4e9])
    r.write("SENS1:FREQ:STAR 1E9;STOP 100E9" if model.limits.f_max >= 100e9 else "SENS1:FREQ:STAR 1E9;STOP 4E9")
    r.write("SENS1:SWE:TYPE LOG;:SENS1:SWE:POIN 3")
    assert r.query("SENS1:SWE:TYPE?").strip() == "LOG"
    stop = 4e9 if model.limits.f_max < 100e9 else 100e9
    np.testing.assert_allclose(r.query_ascii_values(stim), np.geomspace(1e9, stop, 3))
    assert errors(r) == []


#: what each family's manual says about REAL data, written here from the manuals (not from the simulated
#: instruments' table): the byte order after *RST (True: most significant byte first), and that NORMal is
#: most significant byte first and SWAPped least significant first in all three families. PNA help,
#: FORMat:BORDer (default Normal); E5071C programming manual, FORMat:BORDer (NORMal); R&S ZVA/ZNA
#: manuals, FORMat:BORDer (*RST SWAPped, "the least significant byte is transferred first").
BIG_ENDIAN_AFTER_RESET = {"keysight": True, "ena": True, "rs": False}
ORDERS = (("NORM", True), ("SWAP", False))
REAL = {"ena": ("FORM:DATA REAL32", "FORM:DATA REAL")}  # others: FORM REAL,32 / FORM REAL,64
STIMULUS = {"keysight": "SENS1:X?", "ena": "SENS1:FREQ:DATA?", "rs": "CALC1:DATA:STIM?"}
SDATA = {"keysight": "CALC1:DATA? SDATA", "ena": "CALC1:SEL:DATA:SDAT?", "rs": "CALC1:DATA? SDAT"}
DEFAULT_PARAM = {"keysight": (0, 0), "ena": (0, 0), "rs": (1, 0)}  # S11 on Keysight, S21 on R&S


@pytest.fixture(params=sorted(MODELS))
def fresh(request):
    with served(request.param) as (inst, r):
        yield MODELS[request.param], r


def _block(r, query: str) -> bytes:
    """The raw definite-length block a query returns, header checked: #<digits><length><data><newline>."""
    r.write(query)
    head = r.read_bytes(2)
    assert head[:1] == b"#" and head[1:2].isdigit() and head[1:2] != b"0", head
    length = r.read_bytes(int(head[1:2]))
    assert length == str(int(length)).encode(), length  # the shortest header for the length
    data = r.read_bytes(int(length))
    assert r.read_bytes(1) == b"\n"
    return data


def test_real_32_and_64_after_reset_and_in_each_byte_order(fresh):
    """Right after *RST, without FORM:BORD, a REAL trace decodes with the manual's default byte order
    (rtol 1e-6 for REAL,32, 1e-12 for REAL,64); then with each order set explicitly."""
    model, r = fresh
    fam = model.family
    f = np.linspace(1e9, 2e9, 5)
    i, j = DEFAULT_PARAM[fam]
    truth = DelayLine().s_params(f)[:, i, j]
    real32, real64 = REAL.get(fam, ("FORM REAL,32", "FORM REAL,64"))
    r.write("*RST")
    r.write("SENS1:FREQ:STAR 1E9;STOP 2E9;:SENS1:SWE:POIN 5")
    for cmd, dtype, size, rtol in ((real32, "f", 4, 1e-6), (real64, "d", 8, 1e-12)):
        r.write(cmd)
        steps = [(None, BIG_ENDIAN_AFTER_RESET[fam])] + list(ORDERS)
        for order, big in steps:
            if order:
                r.write(f"FORM:BORD {order}")
            data = _block(r, SDATA[fam])
            assert len(data) == 2 * f.size * size
            raw = np.frombuffer(data, (">" if big else "<") + dtype)
            np.testing.assert_allclose(raw[0::2] + 1j * raw[1::2], truth, rtol=rtol)
            stim = np.frombuffer(_block(r, STIMULUS[fam]), (">" if big else "<") + dtype)
            np.testing.assert_allclose(stim, f, rtol=rtol)
        r.write("*RST")
        r.write("SENS1:FREQ:STAR 1E9;STOP 2E9;:SENS1:SWE:POIN 5")
    assert errors(r) == []


ASCII_NUMBER = {  # the family's ASCII real numbers: PNA three exponent digits, ENA two, R&S plain
    "keysight": r"[+-]\d\.\d{11}E[+-]\d{3}",
    "ena": r"[+-]\d\.\d{11}E[+-]\d{2}",
    "rs": r"-?\d+(\.\d+)?(e[+-]\d+)?",
}


def test_ascii_data_in_each_familys_number_format(fresh):
    model, r = fresh
    fam = model.family
    f = np.linspace(1e9, 2e9, 5)
    i, j = DEFAULT_PARAM[fam]
    r.write("*RST")  # ASCii is the data format after *RST in every family
    r.write("SENS1:FREQ:STAR 1E9;STOP 2E9;:SENS1:SWE:POIN 5")
    reply = r.query(SDATA[fam]).strip()
    values = reply.split(",")
    assert len(values) == 2 * f.size and all(re.fullmatch(ASCII_NUMBER[fam], v) for v in values), reply
    got = np.array([float(v) for v in values])
    np.testing.assert_allclose(got[0::2] + 1j * got[1::2], DelayLine().s_params(f)[:, i, j], rtol=1e-11)
    assert all(re.fullmatch(ASCII_NUMBER[fam], v) for v in r.query(STIMULUS[fam]).strip().split(","))
