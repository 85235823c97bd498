"""Electrical delay and smoothing where each family's manual puts them in the data path, computed here
from the manuals' definitions (not from the simulated instruments' code):

- Keysight (PNA help, data access map): SDATA is the corrected data; the electrical delay of the
  measurement is applied after it (the phase correction block), then the formatter, then smoothing,
  whose aperture is a percentage of the number of points rounded to the closest odd number of points,
  and which is off in Smith and polar formats. The ENA the same way, its aperture a percentage of the span.
- R&S (ZNB user manual, data flow; ZNC user manual, offset parameters): the port delays are offsets of
  the channel data flow, in SDATa already, a reflection rotated twice its port's delay; smoothing
  (ZNA user manual, smoothing aperture) replaces point n by the mean of points
  max(1, ceil(n - a/100 N/2)) .. min(N, floor(n + a/100 N/2)).
"""

import math

import numpy as np
import pytest
from vna_helpers import DelayLine, served

from sim_backend.vna import make_instrument

F = np.linspace(1e9, 2e9, 21)
TAU = 1e-9  # the DelayLine's S21 delay
SETUP = "*RST;:FORM REAL,64;:FORM:BORD SWAP;:SENS1:FREQ:STAR 1E9;STOP 2E9;:SENS1:SWE:POIN 21"
S21 = {
    "keysight": [
        "CALC1:PAR:DEL 'CH1_S11_1'",
        "CALC1:PAR:EXT 'T21',S21",
        "CALC1:PAR:EXT 'T11',S11",
        "CALC1:PAR:SEL 'T21'",
    ],
    "ena": ["CALC1:PAR:COUN 2", "CALC1:PAR1:DEF S21", "CALC1:PAR2:DEF S11", "CALC1:PAR1:SEL"],
    "rs": ["CALC1:PAR:SDEF 'T11','S11'", "CALC1:PAR:SEL 'Trc1'"],
}  # Trc1 measures S21 after *RST
FDATA = {"keysight": "CALC1:DATA? FDATA", "ena": "CALC1:SEL:DATA:FDAT?", "rs": "CALC1:DATA? FDAT"}
SDATA = {"keysight": "CALC1:DATA? SDATA", "ena": "CALC1:SEL:DATA:SDAT?", "rs": "CALC1:DATA? SDAT"}
OTHER = {"keysight": "CALC1:PAR:SEL 'T11'", "ena": "CALC1:PAR2:SEL", "rs": "CALC1:PAR:SEL 'T11'"}
FORMAT = {"keysight": "CALC1:FORM", "ena": "CALC1:SEL:FORM", "rs": "CALC1:FORM"}
SMOOTH = {"keysight": "CALC1:SMO", "ena": "CALC1:SEL:SMO", "rs": "CALC1:SMO"}


@pytest.fixture(params=["N5227B", "E5071C", "ZNA43"])
def session(request):
    with served(request.param, dut=DelayLine(TAU)) as (inst, r):
        r.write(SETUP)
        for cmd in S21[inst.model.family]:
            r.write(cmd)
        yield inst.model.family, r


def values(r, query) -> np.ndarray:
    return np.asarray(r.query_binary_values(query, datatype="d", container=np.array))


def complex_values(r, query) -> np.ndarray:
    v = values(r, query)
    return v[0::2] + 1j * v[1::2]


def errors(r):
    out = []
    while not (e := r.query("SYST:ERR?").strip()).lstrip("+").startswith("0"):
        out.append(e)
    return out


def test_electrical_delay_where_each_manual_applies_it(session):
    fam, r = session
    s21 = 0.5 * np.exp(-2j * np.pi * F * TAU)
    if fam == "rs":  # port offsets: 0.4 ns on port 1, 0.6 ns on port 2
        r.write("SENS1:CORR:EDEL1 0.4E-9;:SENS1:CORR:EDEL2 0.6E-9")
        np.testing.assert_allclose(complex_values(r, SDATA[fam]), np.full(F.size, 0.5), rtol=1e-12, atol=1e-12)
        r.write(OTHER[fam])  # S11: twice port 1's delay
        np.testing.assert_allclose(complex_values(r, SDATA[fam]), 0.1 * np.exp(2j * np.pi * F * 0.8e-9), rtol=1e-12)
    else:
        edelay = {"keysight": "CALC1:CORR:EDEL", "ena": "CALC1:SEL:CORR:EDEL:TIME"}[fam]
        r.write(f"{edelay} 1E-9;:{FORMAT[fam]} PHAS")
        np.testing.assert_allclose(complex_values(r, SDATA[fam]), s21, rtol=1e-12)  # SDATA: before the delay
        phase = values(r, FDATA[fam])[0::2] if fam == "ena" else values(r, FDATA[fam])
        np.testing.assert_allclose(phase, 0.0, atol=1e-9)  # FDATA: the delay line's phase removed
        r.write(OTHER[fam])  # the delay is the measurement's: the other one is not delayed
        np.testing.assert_allclose(float(r.query(f"{edelay}?")), 0.0)
    assert errors(r) == []


def keysight_window(n: int, aperture: float) -> list[tuple[int, int]]:
    points = max(1, 2 * math.floor((aperture / 100 * n - 1) / 2 + 0.5) + 1)  # closest odd number of points
    return [(max(0, k - points // 2), min(n - 1, k + points // 2)) for k in range(n)]


def ena_window(f: np.ndarray, aperture: float) -> list[tuple[int, int]]:
    half = (f[-1] - f[0]) * aperture / 200
    idx = [np.flatnonzero(np.abs(f - fk) <= half + 1e-3) for fk in f]
    return [(int(i[0]), int(i[-1])) for i in idx]


def zna_window(n: int, aperture: float) -> list[tuple[int, int]]:
    half = aperture / 100 * n / 2
    return [(max(1, math.ceil(k - half)) - 1, min(n, math.floor(k + half)) - 1) for k in range(1, n + 1)]


def smoothed(x: np.ndarray, windows) -> np.ndarray:
    return np.array([x[lo : hi + 1].mean(axis=0) for lo, hi in windows])


@pytest.mark.parametrize("aperture", [19.5, 25.0])  # 19.5: the ENA (span) averages 3 points, the others 5
def test_smoothing_as_each_manual_defines_it(session, aperture):
    fam, r = session
    s21 = 0.5 * np.exp(-2j * np.pi * F * TAU)
    windows = {
        "keysight": keysight_window(F.size, aperture),
        "ena": ena_window(F, aperture),
        "rs": zna_window(F.size, aperture),
    }[fam]
    assert any(hi - lo >= 2 for lo, hi in windows)  # more than one point averaged
    r.write(f"{FORMAT[fam]} REAL;:{SMOOTH[fam]} ON;:{SMOOTH[fam]}:APER {aperture}")
    got = values(r, FDATA[fam])
    got = got[0::2] if fam == "ena" else got  # the ENA sends two values per point
    np.testing.assert_allclose(got, smoothed(s21.real, windows), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(complex_values(r, SDATA[fam]), s21, rtol=1e-12)  # the unformatted data is not smoothed
    r.write(f"{FORMAT[fam]} SMIT")
    smith = values(r, FDATA[fam]).reshape(-1, 2)
    want = np.column_stack([s21.real, s21.imag])
    # Smith: the PNA turns smoothing off; R&S and the ENA smooth the formatted (two-valued) trace
    np.testing.assert_allclose(smith, want if fam == "keysight" else smoothed(want, windows), rtol=1e-12, atol=1e-15)
    r.write(OTHER[fam])  # smoothing is the trace's: the other trace of the channel is not smoothed
    assert r.query(f"{SMOOTH[fam]}?").strip() == "0"
    assert errors(r) == []


def test_pna_smoothing_points_follow_the_aperture():
    inst = make_instrument("N5227B", DelayLine(TAU), noise=False)
    inst.execute("SENS1:SWE:POIN 401;:CALC1:SMO:APER 2.6")  # 10.4 points: the closest odd number is 11
    assert inst.execute("CALC1:SMO:POIN?")[0] == b"+11"
    inst.execute("CALC1:SMO:POIN 21")
    assert inst.execute("CALC1:SMO:POIN?")[0] == b"+21"
    assert float(inst.execute("CALC1:SMO:APER?")[0]) == pytest.approx(100 * 21 / 401)
    assert inst.errors == []
