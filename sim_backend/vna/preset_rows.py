"""The preset table itself: every setting a simulated VNA presets, per family and model, with its source.

Data only, read by :mod:`sim_backend.vna.presets` (which applies it, and says what a value and a
source mean) and by ``tests/test_vna_presets.py``.
"""

from __future__ import annotations

from sim_backend.vna.preset_row import KEEP, UNCHECKED, FromModel, Row
from simhw.values.vna_models import FAMILIES

__all__ = ["ROWS", "DEFAULT_TRACE"]

# ---------------------------------------------------------------------------------------------- sources
_PNA = "Keysight VNA (PNA) help, SCPI command finder, "
_ZVA = "R&S ZVA/ZVB/ZVT operating manual, SCPI command reference, "
_ZNB = "R&S ZNB/ZNBT user manual, command reference, "
_ENA = "Keysight E5071C programming manual, "
_CMT = "Copper Mountain S2VNA/S4VNA programming manual, "
_IEEE = "IEEE 488.2, *RST and *ESE/*SRE descriptions: a reset does not change the status enables"

#: the family's default trace after a preset: (name, parameter); ENA traces are numbered (CH1_TR1)
DEFAULT_TRACE = {"keysight": ("CH1_S11_1", "S11"), "ena": ("CH1_TR1", "S11"), "rs": ("Trc1", "S21")}

ROWS: list[Row] = [
    # ------------------------------------------------------------------------------ data transfer
    Row(
        "byte order of REAL data",
        {"keysight": "FORM:BORD?", "ena": "FORM:BORD?", "rs": "FORM:BORD?"},
        {"keysight": "NORM", "ena": "NORM", "rs": "SWAP"},
        {
            "keysight": _PNA + "Format commands, FORMat:BORDer (default Normal; NORMal = most significant byte "
            "first, SWAPped = least significant byte first)",
            "ena": _ENA + "FORMat:BORDer command description (NORMal, big-endian)" + UNCHECKED,
            "rs": _ZVA + "FORMat:BORDer (SWAPped = least significant byte first, NORMal = most significant byte "
            "first; *RST SWAPped, NORMal only with a PNA or HP emulation language); the ZNA and ZNB "
            "manuals say the same",
        },
    ),
    Row(
        "data format",
        {"keysight": "FORM?", "ena": "FORM:DATA?", "rs": "FORM?"},
        {"keysight": "ASC,+0", "ena": "ASC", "rs": "ASC,0"},
        {
            "keysight": _PNA + 'Format commands, FORMat[:DATA] (default ASCii,0: "Syst:Preset does NOT reset this '
            'command. However, *RST does"; REAL,32 is the default length of REAL)',
            "ena": _ENA + "FORMat:DATA command description (ASCii)" + UNCHECKED,
            "rs": _ZVA + "FORMat[:DATA] (*RST ASCii; the default length of REAL data is 32 bits)",
        },
        pres={"keysight": KEEP},
    ),
    # ------------------------------------------------------------------------------ trigger
    Row(
        "trigger source",
        {"keysight": "TRIG:SOUR?", "ena": "TRIG:SOUR?", "rs": "TRIG1:SOUR?"},
        {"keysight": "IMM", "ena": "INT", "rs": "IMM"},
        {
            "keysight": _PNA + "Trigger commands, TRIGger[:SEQuence]:SOURce (default IMMediate)",
            "ena": _ENA + "TRIGger[:SEQuence]:SOURce command description (INTernal)" + UNCHECKED,
            "rs": _ZNB + "TRIGger<Ch>[:SEQuence]:SOURce (*RST IMMediate, free run)" + UNCHECKED,
        },
    ),
    Row(
        "trigger scope",
        {"keysight": "TRIG:SCOP?", "ena": "TRIG:SCOP?", "rs": "INIT:SCOP?"},
        {"keysight": "ALL", "ena": "ALL", "rs": "ALL"},
        {
            "keysight": _PNA + "Trigger commands, TRIGger[:SEQuence]:SCOPe (default ALL)",
            "ena": _ENA + "TRIGger[:SEQuence]:SCOPe command description (ALL)" + UNCHECKED,
            "rs": _ZNB + "INITiate<Ch>[:IMMediate]:SCOPe (*RST ALL)" + UNCHECKED,
        },
    ),
    Row(
        "a trigger per point",
        {"keysight": "SENS1:SWE:TRIG:POIN?", "ena": "TRIG:POIN?", "rs": "TRIG1:LINK?"},
        {"keysight": "0", "ena": "0", "rs": "'SWEep'"},
        {
            "keysight": _PNA + "Sense:Sweep commands, SENSe:SWEep:TRIGger:POINt (OFF)" + UNCHECKED,
            "ena": _ENA + "TRIGger[:SEQuence]:POINt command description (OFF)" + UNCHECKED,
            "rs": _ZNB + "TRIGger<Ch>[:SEQuence]:LINK (*RST 'SWEep': one trigger event per sweep)" + UNCHECKED,
        },
        scope={"keysight": "channel", "ena": "instrument", "rs": "channel"},
        command={"keysight": "SENS{ch}:SWE:TRIG:POIN", "rs": "TRIG{ch}:LINK"},
    ),
    Row(
        "trigger output",
        {"keysight": "TRIG:CHAN1:AUX1?", "ena": "TRIG:OUTP?"},
        {"keysight": "0", "ena": "0"},
        {
            "keysight": _PNA + "Trigger commands, TRIGger:CHANnel:AUXiliary[:ENABle] (OFF)" + UNCHECKED,
            "ena": _ENA + "TRIGger[:SEQuence]:OUTPut[:STATe] command description (OFF)" + UNCHECKED,
        },
        scope={"keysight": "channel", "ena": "instrument"},
        command={"keysight": "TRIG:CHAN{ch}:AUX1"},
    ),
    # ------------------------------------------------------------------------------ sweep
    Row(
        "sweep type",
        {"keysight": "SENS1:SWE:TYPE?", "ena": "SENS1:SWE:TYPE?", "rs": "SENS1:SWE:TYPE?"},
        {"keysight": "LIN", "ena": "LIN", "rs": "LIN"},
        {
            "keysight": _PNA + "Sense:Sweep commands, SENSe:SWEep:TYPE (LINear)" + UNCHECKED,
            "ena": _ENA + "SENSe:SWEep:TYPE command description (LINear)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]SWEep:TYPE (*RST LINear)" + UNCHECKED,
        },
        scope="channel",
        command={f: "SENS{ch}:SWE:TYPE" for f in FAMILIES},
    ),
    Row(
        "sweep mode (continuous)",
        {"keysight": "SENS1:SWE:MODE?", "ena": "INIT1:CONT?", "rs": "INIT1:CONT?"},
        {"keysight": "CONT", "ena": "1", "E5071C": "0", "rs": "1"},
        {
            "keysight": _PNA + "Sense:Sweep commands, SENSe:SWEep:MODE (CONTinuous)" + UNCHECKED,
            "ena": _ENA + "INITiate:CONTinuous command description and the list of default values (ON for "
            "channel 1 after :SYST:PRES, OFF after *RST; E5080B and Copper Mountain: ON after both)" + UNCHECKED,
            "rs": _ZNB + "INITiate<Ch>:CONTinuous (*RST ON)" + UNCHECKED,
        },
        pres={"E5071C": "1"},
        scope="channel",
        command={"keysight": "SENS{ch}:SWE:MODE", "ena": "INIT{ch}:CONT", "rs": "INIT{ch}:CONT"},
    ),
    Row(
        "points",
        {"keysight": "SENS1:SWE:POIN?", "ena": "SENS1:SWE:POIN?", "rs": "SENS1:SWE:POIN?"},
        {"keysight": 201, "ena": 201, "rs": 201},
        {
            "keysight": _PNA + "Sense:Sweep commands, SENSe:SWEep:POINts (201)" + UNCHECKED,
            "ena": _ENA + "SENSe:SWEep:POINts command description (201)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]SWEep:POINts (*RST 201)" + UNCHECKED,
        },
        scope="channel",
        command={f: "SENS{ch}:SWE:POIN" for f in FAMILIES},
    ),
    Row(
        "start frequency",
        {"keysight": "SENS1:FREQ:STAR?", "ena": "SENS1:FREQ:STAR?", "rs": "SENS1:FREQ:STAR?"},
        {"keysight": FromModel("limits.f_min"), "ena": FromModel("limits.f_min"), "rs": FromModel("limits.f_min")},
        {
            f: "each model's data sheet (its lowest frequency: a preset sweeps the full range)" + UNCHECKED
            for f in FAMILIES
        },
        scope="channel",
        command={f: "SENS{ch}:FREQ:STAR" for f in FAMILIES},
    ),
    Row(
        "stop frequency",
        {"keysight": "SENS1:FREQ:STOP?", "ena": "SENS1:FREQ:STOP?", "rs": "SENS1:FREQ:STOP?"},
        {"keysight": FromModel("limits.f_max"), "ena": FromModel("limits.f_max"), "rs": FromModel("limits.f_max")},
        {f: "each model's data sheet (its highest frequency)" + UNCHECKED for f in FAMILIES},
        scope="channel",
        command={f: "SENS{ch}:FREQ:STOP" for f in FAMILIES},
    ),
    Row(
        "IF bandwidth",
        {"keysight": "SENS1:BWID?", "ena": "SENS1:BWID?", "rs": "SENS1:BAND?"},
        {"keysight": FromModel("preset_ifbw"), "ena": FromModel("preset_ifbw"), "rs": FromModel("preset_ifbw")},
        {
            "keysight": _PNA + "Sense:Bandwidth commands, SENSe:BANDwidth (100 kHz)" + UNCHECKED,
            "ena": _ENA + "SENSe:BANDwidth command description (E5071C 70 kHz; E5080B 100 kHz; Copper Mountain "
            "10 kHz)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]BANDwidth (*RST 10 kHz)" + UNCHECKED,
        },
        scope="channel",
        command={"keysight": "SENS{ch}:BWID", "ena": "SENS{ch}:BWID", "rs": "SENS{ch}:BAND"},
    ),
    Row(
        "source power",
        {"keysight": "SOUR1:POW?", "ena": "SOUR1:POW?", "rs": "SOUR1:POW?"},
        {"keysight": FromModel("preset_power"), "ena": FromModel("preset_power"), "rs": FromModel("preset_power")},
        {
            "keysight": _PNA + "Source commands, SOURce:POWer (0 dBm on the N522xB)" + UNCHECKED,
            "ena": _ENA + "SOURce:POWer command description (0 dBm)" + UNCHECKED,
            "rs": _ZNB + "SOURce<Ch>:POWer (*RST -10 dBm)" + UNCHECKED,
        },
        scope="channel",
        command={f: "SOUR{ch}:POW" for f in FAMILIES},
    ),
    # ------------------------------------------------------------------------------ averaging, correction
    Row(
        "averaging",
        {"keysight": "SENS1:AVER?", "ena": "SENS1:AVER?", "rs": "SENS1:AVER?"},
        {"keysight": "0", "ena": "0", "rs": "0"},
        {
            "keysight": _PNA + "Sense:Average commands, SENSe:AVERage[:STATe] (OFF)" + UNCHECKED,
            "ena": _ENA + "SENSe:AVERage[:STATe] command description (OFF)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]AVERage[:STATe] (*RST OFF)" + UNCHECKED,
        },
        scope="channel",
        command={f: "SENS{ch}:AVER" for f in FAMILIES},
    ),
    Row(
        "averaging count",
        {"keysight": "SENS1:AVER:COUN?", "ena": "SENS1:AVER:COUN?", "rs": "SENS1:AVER:COUN?"},
        {"keysight": 1, "ena": 1, "E5071C": 16, "rs": 10},
        {
            "keysight": _PNA + "Sense:Average commands, SENSe:AVERage:COUNt (default 1)",
            "ena": _ENA + "SENSe:AVERage:COUNt command description (E5071C 16; E5080B 1 as the PNA; Copper "
            "Mountain 1)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]AVERage:COUNt (*RST 10)" + UNCHECKED,
        },
        scope="channel",
        command={f: "SENS{ch}:AVER:COUN" for f in FAMILIES},
    ),
    Row(
        "sweeps per single sweep",
        {"keysight": "SENS1:SWE:GRO:COUN?", "rs": "SENS1:SWE:COUN?"},
        {"keysight": 1, "rs": 1},
        {
            "keysight": _PNA + "Sense:Sweep commands, SENSe:SWEep:GROups:COUNt (default 1)",
            "rs": _ZNB + "[SENSe<Ch>:]SWEep:COUNt (*RST 1)" + UNCHECKED,
        },
        scope="channel",
        command={"keysight": "SENS{ch}:SWE:GRO:COUN", "rs": "SENS{ch}:SWE:COUN"},
    ),
    Row(
        "average trigger",
        {"ena": "TRIG:AVER?"},
        {"ena": "0"},
        {"ena": _ENA + "TRIGger[:SEQuence]:AVERage command description (OFF)" + UNCHECKED},
    ),
    Row(
        "correction",
        {"keysight": "SENS1:CORR?", "ena": "SENS1:CORR:STAT?", "rs": "SENS1:CORR?"},
        {"keysight": "0", "ena": "0", "rs": "0"},
        {
            "keysight": _PNA + "Sense:Correction commands, SENSe:CORRection[:STATe] (OFF: no cal set after a "
            "preset)" + UNCHECKED,
            "ena": _ENA + "SENSe:CORRection:STATe command description (OFF)" + UNCHECKED,
            "rs": _ZNB + "[SENSe<Ch>:]CORRection[:STATe] (no user calibration after a preset)" + UNCHECKED,
        },
        scope="channel",
        command={"keysight": None, "ena": None, "rs": None},
    ),
    Row(
        "port delay (offset) of port 1",
        {"rs": "SENS1:CORR:EDEL1?"},
        {"rs": 0.0},
        {
            "rs": _ZNB + "[SENSe<Ch>:]CORRection:EDELay<PhyPt> (*RST 0 s); an offset, applied in the channel data "
            "flow before the unformatted data (SDATa)" + UNCHECKED
        },
        scope="channel",
        command={"rs": "SENS{ch}:CORR:EDEL1"},
    ),
    # ------------------------------------------------------------------------------ the default trace
    Row(
        "trace format",
        {"keysight": "CALC1:FORM?", "ena": "CALC1:SEL:FORM?", "rs": "CALC1:FORM?"},
        {"keysight": "MLOG", "ena": "MLOG", "rs": "MLOG"},
        {
            "keysight": _PNA + "Calculate:Format, CALCulate:FORMat (MLOGarithmic)" + UNCHECKED,
            "ena": _ENA + "CALCulate:SELected:FORMat command description (MLOGarithmic)" + UNCHECKED,
            "rs": _ZNB + "CALCulate<Chn>:FORMat (*RST MLOGarithmic)" + UNCHECKED,
        },
        scope="trace",
    ),
    Row(
        "smoothing",
        {"keysight": "CALC1:SMO?", "ena": "CALC1:SEL:SMO?", "rs": "CALC1:SMO?"},
        {"keysight": "0", "ena": "0", "rs": "0"},
        {
            "keysight": _PNA + "Calculate:Smoothing commands, CALCulate:SMOothing[:STATe] (OFF)",
            "ena": _ENA + "CALCulate:SELected:SMOothing[:STATe] command description (OFF)" + UNCHECKED,
            "rs": _ZVA + "CALCulate<Chn>:SMOothing[:STATe] (*RST OFF)",
        },
        scope="trace",
    ),
    Row(
        "smoothing aperture, %",
        {"keysight": "CALC1:SMO:APER?", "ena": "CALC1:SEL:SMO:APER?", "rs": "CALC1:SMO:APER?"},
        {"keysight": 1.5, "ena": 1.5, "rs": 1.0},
        {
            "keysight": _PNA + "Calculate:Smoothing commands, CALCulate:SMOothing:APERture (default 1.5, percent "
            "of the number of points; POINts default 3)",
            "ena": _ENA + "CALCulate:SELected:SMOothing:APERture command description (1.5 % of the span)" + UNCHECKED,
            "rs": _ZVA + "CALCulate<Chn>:SMOothing:APERture (*RST 1, percent)",
        },
        scope="trace",
    ),
    Row(
        "electrical delay",
        {"keysight": "CALC1:CORR:EDEL?", "ena": "CALC1:SEL:CORR:EDEL:TIME?"},
        {"keysight": 0.0, "ena": 0.0},
        {
            "keysight": _PNA + "Calculate:Correction commands, CALCulate:CORRection:EDELay[:TIME] (0 s); applied in "
            "the phase correction block after SDATA (data access map)" + UNCHECKED,
            "ena": _ENA + "CALCulate:SELected:CORRection:EDELay:TIME command description (0 s)" + UNCHECKED,
        },
        scope="trace",
    ),
    # ------------------------------------------------------------------------------ structure (built, not set)
    Row(
        "channels",
        {"keysight": "SYST:CHAN:CAT?", "ena": "SERV:CHAN:ACT?", "rs": "CONF:CHAN:CAT?"},
        {"keysight": '"1"', "ena": "1", "rs": "'1,Ch1'"},
        {
            "keysight": _PNA
            + "System commands, SYSTem:PRESet (channel 1 with measurement CH1_S11_1 in window 1)"
            + UNCHECKED,
            "ena": _ENA + ":SYSTem:PRESet and *RST (channel 1 active)" + UNCHECKED,
            "rs": _ZNB + "*RST and SYSTem:PRESet (channel 1, named Ch1)" + UNCHECKED,
        },
        command={"keysight": None, "ena": None, "rs": None},
    ),
    Row(
        "traces of channel 1",
        {"keysight": "CALC1:PAR:CAT:EXT?", "ena": "CALC1:PAR:COUN?", "rs": "CALC1:PAR:CAT?"},
        {"keysight": '"CH1_S11_1,S11"', "ena": "1", "rs": "'Trc1,S21'"},
        {
            "keysight": _PNA + "System commands, SYSTem:PRESet (creates the S11 measurement CH1_S11_1)" + UNCHECKED,
            "ena": _ENA + ":SYSTem:PRESet (one trace, S11)" + UNCHECKED,
            "rs": _ZNB + "*RST (trace Trc1 measuring S21 in channel 1)" + UNCHECKED,
        },
        command={"keysight": None, "ena": None, "rs": None},
    ),
    Row(
        "selected trace",
        {"keysight": "SYST:ACT:MEAS?", "ena": "CALC1:PAR1:DEF?", "rs": "CALC1:PAR:SEL?"},
        {"keysight": '"CH1_S11_1"', "ena": "S11", "rs": "'Trc1'"},
        {
            "keysight": _PNA + "System commands, SYSTem:PRESet" + UNCHECKED,
            "ena": _ENA + ":SYSTem:PRESet (trace 1 active, S11)" + UNCHECKED,
            "rs": _ZNB + "*RST (Trc1 active)" + UNCHECKED,
        },
        command={"keysight": None, "ena": None, "rs": None},
    ),
    Row(
        "windows",
        {"keysight": "DISP:WIND1:CAT?", "rs": "DISP:WIND1:TRAC:CAT?"},
        {"keysight": '"1"', "rs": "'1,Trc1'"},
        {
            "keysight": _PNA + "System commands, SYSTem:PRESet (window 1, trace 1)" + UNCHECKED,
            "rs": _ZNB + "*RST (diagram 1 showing Trc1)" + UNCHECKED,
        },
        command={"keysight": None, "rs": None},
    ),
    # ------------------------------------------------------------------------------ status (never reset)
    Row(
        "standard event status enable",
        {"keysight": "*ESE?", "ena": "*ESE?", "rs": "*ESE?"},
        {"keysight": KEEP, "ena": KEEP, "rs": KEEP},
        {f: _IEEE for f in FAMILIES},
        command={"keysight": None, "ena": None, "rs": None},
    ),
    Row(
        "service request enable",
        {"keysight": "*SRE?", "ena": "*SRE?", "rs": "*SRE?"},
        {"keysight": KEEP, "ena": KEEP, "rs": KEEP},
        {f: _IEEE for f in FAMILIES},
        command={"keysight": None, "ena": None, "rs": None},
    ),
]
