"""The preset-state table (sim_backend/vna/presets.py) against every simulated model, through pyvisa:
each instrument is moved away from every row's value, then reset with ``*RST`` or ``SYST:PRES``,
and every row is queried and compared; docs/guide.md shows the table as declared."""

import pathlib

import pytest
from vna_helpers import served

from sim_backend.vna import presets
from sim_backend.vna.presets import KEEP, ROWS
from simhw.values.vna_models import MODELS

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: commands that move every row of the table away from its preset value (a second channel, a second
#: trace selected, a cal set on, the status enables set), per family
AWAY = {
    "keysight": [
        "FORM:BORD SWAP",
        "FORM REAL,64",
        "TRIG:SOUR MAN",
        "TRIG:SCOP CURR",
        "SENS1:SWE:TRIG:POIN ON",
        "TRIG:CHAN1:AUX1 ON",
        "SENS1:SWE:TYPE LOG",
        "SENS1:SWE:MODE HOLD",
        "SENS1:SWE:POIN 11",
        "SENS1:FREQ:STAR 1E9",
        "SENS1:FREQ:STOP 2E9",
        "SENS1:BWID 1E3",
        "SOUR1:POW -20",
        "SENS1:AVER ON",
        "SENS1:AVER:COUN 7",
        "SENS1:SWE:GRO:COUN 3",
        "SENS1:CORR:CSET:ACT 'simhw',1",
        "CALC1:PAR:EXT 'mine',S21",
        "CALC1:PAR:SEL 'mine'",
        "DISP:WIND1:TRAC2:FEED 'mine'",
        "CALC1:FORM PHAS",
        "CALC1:SMO ON",
        "CALC1:SMO:APER 5",
        "CALC1:CORR:EDEL 1E-9",
        "CALC2:PAR:EXT 'two',S22",
        "*ESE 36",
        "*SRE 16",
    ],
    "ena": [
        "FORM:BORD SWAP",
        "FORM:DATA REAL",
        "TRIG:SOUR BUS",
        "TRIG:SCOP ACT",
        "TRIG:POIN ON",
        "TRIG:OUTP ON",
        "TRIG:AVER ON",
        "SENS1:SWE:TYPE LOG",
        "INIT1:CONT OFF",
        "SENS1:SWE:POIN 11",
        "SENS1:FREQ:STAR 1E9",
        "SENS1:FREQ:STOP 2E9",
        "SENS1:BWID 1E3",
        "SOUR1:POW -20",
        "SENS1:AVER ON",
        "SENS1:AVER:COUN 7",
        "MMEM:LOAD:CHAN:COEF 'simhw'",
        "CALC1:PAR:COUN 3",
        "CALC1:PAR1:DEF S21",
        "CALC1:PAR2:SEL",
        "CALC1:SEL:FORM PHAS",
        "CALC1:SEL:SMO ON",
        "CALC1:SEL:SMO:APER 5",
        "CALC1:SEL:CORR:EDEL:TIME 1E-9",
        "DISP:WIND2:ACT",
        "*ESE 36",
        "*SRE 16",
    ],
    "rs": [
        "FORM:BORD NORM",
        "FORM REAL,64",
        "TRIG1:SOUR EXT",
        "INIT:SCOP SING",
        "TRIG1:LINK 'POIN'",
        "SENS1:SWE:TYPE LOG",
        "INIT1:CONT OFF",
        "SENS1:SWE:POIN 11",
        "SENS1:FREQ:STAR 1E9",
        "SENS1:FREQ:STOP 2E9",
        "SENS1:BAND 1E3",
        "SOUR1:POW -20",
        "SENS1:AVER ON",
        "SENS1:AVER:COUN 7",
        "SENS1:SWE:COUN 3",
        "SENS1:CORR:CSET 'simhw'",
        "SENS1:CORR:EDEL1 1E-9",
        "CALC1:PAR:SDEF 'mine','S12'",
        "DISP:WIND1:TRAC2:FEED 'mine'",
        "CALC1:FORM PHAS",
        "CALC1:SMO ON",
        "CALC1:SMO:APER 5",
        "CONF:CHAN2 ON",
        "*ESE 36",
        "*SRE 16",
    ],
}


def errors(r) -> list[str]:
    out = []
    while not (e := r.query("SYST:ERR?").strip()).lstrip("+").startswith("0"):
        out.append(e)
    return out


def same(got: str, want) -> bool:
    if isinstance(want, (int, float)):
        return float(got) == pytest.approx(float(want), rel=1e-12, abs=1e-15)
    return got == want


@pytest.fixture(params=sorted(MODELS))
def instrument(request):
    with served(request.param) as (inst, r):
        yield inst.model, r


@pytest.mark.parametrize("reset, kind", [("*RST", "rst"), ("SYST:PRES", "pres")])
def test_every_model_comes_back_to_its_manuals_preset_state(instrument, reset, kind):
    model, r = instrument
    rows = presets.rows_for(model.family)
    for cmd in AWAY[model.family]:
        r.write(cmd)
    assert errors(r) == []
    away = {row.name: r.query(row.query[model.family]).strip() for row in rows}
    # every row was moved: a reset that left it alone would be seen (KEEP rows must stay where they were moved)
    unmoved = [
        row.name for row in rows if all(same(away[row.name], presets.value(row, model, k)) for k in ("rst", "pres"))
    ]
    assert unmoved == []
    r.write(reset)
    assert r.query("*OPC?").strip().lstrip("+") == "1"
    for row in rows:
        want = presets.value(row, model, kind)
        got = r.query(row.query[model.family]).strip()
        assert same(got, away[row.name] if want == KEEP else want), (
            f"{model.name} after {reset}: {row.name} ({row.query[model.family]}) is {got!r}, the manual says {want!r}"
        )
    assert errors(r) == []


def test_a_new_channel_gets_the_channel_rows(instrument):
    model, r = instrument
    make = {"keysight": "CALC3:PAR:EXT 'three',S11", "ena": "DISP:WIND3:ACT", "rs": "CONF:CHAN3 ON"}[model.family]
    r.write(make)
    for row in presets.rows_for(model.family, ("channel",)):
        query = row.query[model.family].replace("1", "3", 1)  # the same query, of channel 3
        assert same(r.query(query).strip(), presets.value(row, model)), f"{model.name} {query}"
    assert errors(r) == []


def test_the_table_names_a_source_for_every_value():
    families = {"keysight", "ena", "rs"}
    for row in ROWS:
        assert set(row.query) <= families and set(row.source) == set(row.query), row.name
        assert all(len(src) > 20 for src in row.source.values()), row.name
        for table in (row.rst, row.pres):
            assert set(table) <= families | set(MODELS), row.name
        assert set(row.query) <= set(row.rst), row.name
    # the R&S byte order the issue is about: least significant byte first after *RST (the ZVA manual)
    rs = next(r for r in ROWS if r.name == "byte order of REAL data")
    assert (rs.rst["rs"], rs.rst["keysight"]) == ("SWAP", "NORM")


def test_the_guide_shows_the_table_as_declared():
    guide = (ROOT / "docs" / "guide.md").read_text()
    begin, end = "<!-- the preset table: sim_backend.vna.presets.markdown() -->\n", "<!-- end of the preset table -->"
    assert begin in guide and end in guide
    assert guide[guide.index(begin) + len(begin) : guide.index(end)] == presets.markdown()


# Written from the manuals, not from the table: where *RST and SYST:PRES differ. PNA help, FORMat[:DATA]:
# "Syst:Preset does NOT reset this command. However, *RST does reset this command to ASCii,0"; E5071C
# programming manual: channel 1 continuous after :SYST:PRES, on hold after *RST.
DIFFER = [
    ("N5227B", "FORM REAL,64", "FORM?", {"*RST": "ASC,+0", "SYST:PRES": "REAL,+64"}),
    ("E5071C", "INIT1:CONT OFF", "INIT1:CONT?", {"*RST": "0", "SYST:PRES": "1"}),
    ("ZNA43", "FORM:BORD NORM", "FORM:BORD?", {"*RST": "SWAP", "SYST:PRES": "SWAP"}),
]


@pytest.mark.parametrize("model, change, query, after", DIFFER)
def test_rst_and_preset_differ_where_the_manuals_say(model, change, query, after):
    with served(model) as (inst, r):
        for reset, want in after.items():
            r.write(change)
            r.write(reset)
            assert r.query(query).strip() == want, f"{model} {query} after {reset}"
