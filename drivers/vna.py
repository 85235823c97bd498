"""VNA drivers, one class per family, over pyvisa (pyvisa-py by default).

- :class:`KeysightPNA`: Keysight PNA / PNA-X (N52xx).
- :class:`KeysightENA`: Keysight ENA (E5071C style), E5080 and Copper Mountain.
- :class:`RohdeSchwarzZNB`: Rohde & Schwarz ZNB / ZNA / ZVA.

Every setting is declared once (:mod:`drivers.vna_settings`: command, validator, doc) and checked
against the instrument's range before anything is sent; ``SYST:ERR?`` is read after
configuration so a rejected setting raises :class:`VNAError` instead of giving a silently wrong
sweep; traces come back as binary REAL,64 blocks (ASCII as fallback); the I/O timeout follows
the sweep time. The state policy (what simhw does to the instrument) is in :mod:`drivers.vna_base`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.vna_base import SCPIVNA, SIMHW_PREFIX, VNA, VNAError, VNATimeout
from drivers.vna_settings import Mnemonic, OnOff, Range, Setting
from simhw.values.vna_limits import VNALimits

__all__ = [
    "VNA",
    "VNAError",
    "VNATimeout",
    "VNALimits",
    "SCPIVNA",
    "KeysightPNA",
    "KeysightENA",
    "RohdeSchwarzZNB",
    "open_vna",
    "FAMILY_DRIVERS",
]


def _items(reply: str) -> list[str]:
    body = reply.strip().strip("'\"")
    return [] if body.upper() in ("", "NO CATALOG", "EMPTY") else [x.strip() for x in body.split(",")]


class _Common(SCPIVNA):
    """The settings whose commands every family shares."""

    start = Setting("SENS{ch}:FREQ:STAR", Range(float, "f_min", "f_max"), "start frequency, Hz")
    stop = Setting("SENS{ch}:FREQ:STOP", Range(float, "f_min", "f_max"), "stop frequency, Hz")
    cw = Setting("SENS{ch}:FREQ:CW", Range(float, "f_min", "f_max"), "frequency of a CW (time) sweep, Hz")
    points = Setting("SENS{ch}:SWE:POIN", Range(int, None, "max_points", lo=1), "points per sweep")
    power = Setting("SOUR{ch}:POW", Range(float, "power_min", "power_max"), "source power, dBm")
    sweep_type = Setting("SENS{ch}:SWE:TYPE", Mnemonic("LIN", "LOG", "CW", "POW", "SEGM"), "sweep type")
    averaging = Setting("SENS{ch}:AVER", OnOff(), "averaging on or off")
    averaging_count = Setting("SENS{ch}:AVER:COUN", Range(int, lo=1, hi=65536), "sweeps averaged")
    aux_enable = Setting("TRIG:CHAN{ch}:AUX1", OnOff(), "trigger output 1 on or off")
    aux_interval = Setting("TRIG:CHAN{ch}:AUX1:INT", Mnemonic("POIN", "SWE"), "a trigger pulse per point or per sweep")
    aux_position = Setting("TRIG:CHAN{ch}:AUX1:POS", Mnemonic("BEF", "AFT"), "the pulse before or after the point")

    _feed_next: int | None  # the next window trace number a new trace is fed to (PNA), None: not yet asked

    def _catalog(self) -> list[tuple[str, str]]:
        items = _items(self.query(self._fmt("catalog_q")))
        return list(zip(items[0::2], items[1::2]))

    def _define_traces(self, params: tuple[str, ...]) -> None:
        mine = f"{SIMHW_PREFIX}CH{self.channel}_"
        for name, _ in self._catalog():
            if name.startswith(mine):
                self.write(self._fmt("delete", name=name))
        self._params = ()
        self._feed_next = None
        for p in params:
            name = self.trace_name(p)
            self.write(self._fmt("define", name=name, param=p))
            self._feed(name)
        self._params = params

    def _feed(self, name: str) -> None:
        """Show a new trace (families without windows to feed do nothing)."""

    def _remove_traces(self) -> None:
        for p in self._params:
            self.write(self._fmt("delete", name=self.trace_name(p)))

    def _trigger_out(self, on: bool) -> None:
        self.aux_enable = on
        if on:
            self.aux_interval = "POIN"
            self.aux_position = "AFT"

    def read(self) -> dict[str, np.ndarray]:
        out = {}
        for p in self._params:
            self.write(self._fmt("select", name=self.trace_name(p)))
            out[p] = self._check_trace(p, self.query_values(self._fmt("data_q")))
        return out


class KeysightPNA(_Common):
    """Keysight PNA / PNA-X family (N52xx)."""

    family = "keysight"
    ifbw = Setting("SENS{ch}:BWID", Range(float, "ifbw_min", "ifbw_max"), "IF bandwidth, Hz")
    SCPI = {
        "error": "SYST:ERR?",
        "preset": "SYST:PRES",
        "ports_q": "SYST:CAP:HARD:PORT:COUN?",
        "format_real64": "FORM REAL,64",
        "format_ascii": "FORM ASC,0",
        "stimulus_q": "SENS{ch}:X?",
        "catalog_q": "CALC{ch}:PAR:CAT:EXT?",
        "delete": "CALC{ch}:PAR:DEL '{name}'",
        "define": "CALC{ch}:PAR:EXT '{name}',{param}",
        "window_q": "DISP:WIND1:CAT?",
        "window_on": "DISP:WIND1:STAT ON",
        "feed": "DISP:WIND1:TRAC{n}:FEED '{name}'",
        "select": "CALC{ch}:PAR:SEL '{name}'",
        "data_q": "CALC{ch}:DATA? SDATA",
        "cal_set": "SENS{ch}:CORR:CSET:ACT '{name}',1",
        "cal_set_q": "SENS{ch}:CORR:CSET:ACT? NAME",
        "correction_q": "SENS{ch}:CORR?",
        "sweep_time_q": "SENS{ch}:SWE:TIME?",
        "trigger_imm": "TRIG:SOUR IMM",
        "single": "SENS{ch}:SWE:MODE SING",
        "groups": "SENS{ch}:SWE:GRO:COUN {n}",
        "group_mode": "SENS{ch}:SWE:MODE GRO",
        "average_sweeps": "SENS{ch}:AVER:MODE SWE",
    }

    def _feed(self, name: str) -> None:
        if self._feed_next is None:
            shown = [int(x) for x in _items(self.query(self.SCPI["window_q"]))]
            if not shown:
                self.write(self.SCPI["window_on"])
            self._feed_next = max(shown, default=0) + 1
        self.write(self._fmt("feed", n=self._feed_next, name=name))
        self._feed_next += 1

    def _set_averaging(self, sweeps: int) -> None:
        if not sweeps:
            self.averaging = False
            return
        self.averaging_count = sweeps
        self.averaging = True
        self.write(self._fmt("average_sweeps"))

    def sweep(self) -> None:
        with self.lock:
            self.write(self.SCPI["trigger_imm"])
            if self.averaging_sweeps:
                self.write(self._fmt("groups", n=self.averaging_sweeps))
                self.write(self._fmt("group_mode"))
            else:
                self.write(self._fmt("single"))
            reply = self.query("*OPC?", timeout_s=self._sweep_timeout())
            if reply.strip().lstrip("+") != "1":
                raise VNAError(f"unexpected *OPC? reply {reply!r}")


class RohdeSchwarzZNB(_Common):
    """Rohde & Schwarz ZNB / ZNA / ZVA family. List sweeps need the trigger outputs (ZNA-B91)."""

    family = "rs"
    ifbw = Setting("SENS{ch}:BAND", Range(float, "ifbw_min", "ifbw_max"), "IF bandwidth, Hz")
    SCPI = {
        "error": "SYST:ERR?",
        "preset": "SYST:PRES",
        "ports_q": "INST:PORT:COUN?",
        "format_real64": "FORM REAL,64",
        "format_ascii": "FORM ASC",
        "stimulus_q": "CALC{ch}:DATA:STIM?",
        "catalog_q": "CALC{ch}:PAR:CAT?",
        "delete": "CALC{ch}:PAR:DEL '{name}'",
        "define": "CALC{ch}:PAR:SDEF '{name}','{param}'",
        "select": "CALC{ch}:PAR:SEL '{name}'",
        "data_q": "CALC{ch}:DATA? SDAT",
        "cal_set": "SENS{ch}:CORR:CSET '{name}'",
        "cal_set_q": "SENS{ch}:CORR:CSET?",
        "correction_q": "SENS{ch}:CORR?",
        "sweep_time_q": "SENS{ch}:SWE:TIME?",
        "continuous_off": "INIT{ch}:CONT OFF",
        "single_wait": "INIT{ch}:IMM; *WAI",
        "sweep_count": "SENS{ch}:SWE:COUN {n}",
        "trigger_imm": "TRIG{ch}:SOUR IMM",
        "port_delay": "SENS{ch}:CORR:EDEL{port} 0",
    }

    def _set_averaging(self, sweeps: int) -> None:
        """Averaging over the sweeps of one single sweep (the sweep count); 0: one sweep, no averaging."""
        if sweeps:
            self.averaging_count = sweeps
        self.averaging = bool(sweeps)
        self.write(self._fmt("sweep_count", n=max(1, sweeps)))

    def _settings_relied_on(self, params: tuple[str, ...]) -> None:
        """The port offsets are in the unformatted data simhw reads (the manual's data flow): none on the
        measured ports."""
        for port in sorted({int(c) for p in params for c in p[1:]}):
            self.write(self._fmt("port_delay", port=port))

    def sweep(self) -> None:
        with self.lock:
            self.write(self._fmt("trigger_imm"))
            self.write(self._fmt("continuous_off"))
            self.write(self._fmt("single_wait"))
            # *WAI holds the parser until the sweep ends: a query after it returns only then
            self.query("*OPC?", timeout_s=self._sweep_timeout())


class KeysightENA(_Common):
    """Keysight ENA (E5071C style), E5080 and Copper Mountain: numbered traces per channel, an
    instrument-wide trigger (BUS source, ``TRIG:SING``), per-point trigger output ``TRIG:POIN``."""

    family = "ena"
    LIST_STATE = ("sweep_type", "cw", "points", "ifbw", "aux_enable", "point_trigger", "aux_position")
    averaging_count = Setting("SENS{ch}:AVER:COUN", Range(int, lo=1, hi=999), "sweeps averaged")
    ifbw = Setting("SENS{ch}:BWID", Range(float, "ifbw_min", "ifbw_max"), "IF bandwidth, Hz")
    aux_enable = Setting("TRIG:OUTP", OnOff(), "the trigger output on or off")
    point_trigger = Setting("TRIG:POIN", OnOff(), "one trigger event (and output pulse) per point")
    aux_position = Setting("TRIG:OUTP:POS", Mnemonic("BEF", "AFT"), "the pulse before or after the point")
    trigger_scope = Setting("TRIG:SCOP", Mnemonic("ALL", "ACT"), "the channels a trigger sweeps: all or the active one")
    SCPI = {
        "error": "SYST:ERR?",
        "preset": "SYST:PRES",
        "ports_q": "SERV:PORT:COUN?",
        "format_real64": "FORM:DATA REAL",
        "format_ascii": "FORM:DATA ASC",
        "stimulus_q": "SENS{ch}:FREQ:DATA?",
        "count_q": "CALC{ch}:PAR:COUN?",
        "count": "CALC{ch}:PAR:COUN {n}",
        "define": "CALC{ch}:PAR{n}:DEF {param}",
        "data_q": "CALC{ch}:TRAC{n}:DATA:SDAT?",
        "activate": "DISP:WIND{ch}:ACT",
        "cal_set": "MMEM:LOAD:CHAN:COEF '{name}'",
        "cal_set_q": "SENS{ch}:CORR:PROP?",
        "correction_q": "SENS{ch}:CORR:STAT?",
        "sweep_time_q": "SENS{ch}:SWE:TIME?",
        "trigger_bus": "TRIG:SOUR BUS",
        "continuous_on": "INIT{ch}:CONT ON",
        "single": "TRIG:SING",
        "average_trigger": "TRIG:AVER ON",
    }

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._base_traces: int | None = None  # the operator's traces in simhw's channel
        self._numbers: dict[str, int] = {}

    def configure(self, *a, **kw) -> None:
        if self.cal_set:
            self._ensure()
            self.write(self._fmt("activate"))  # coefficients load into the active channel
        super().configure(*a, **kw)

    def _define_traces(self, params: tuple[str, ...]) -> None:
        if self._base_traces is None:
            self._base_traces = int(float(self.query(self._fmt("count_q"))))
        base = self._base_traces
        self.write(self._fmt("count", n=base + len(params)))
        self._numbers = {}
        for k, p in enumerate(params, start=base + 1):
            self.write(self._fmt("define", n=k, param=p))
            self._numbers[p] = k
        self._params = params

    def _remove_traces(self) -> None:
        if self._base_traces is not None:
            self.write(self._fmt("count", n=self._base_traces))

    def _trigger_out(self, on: bool) -> None:
        self.aux_enable = on
        self.point_trigger = on
        if on:
            self.aux_position = "AFT"

    def _set_averaging(self, sweeps: int) -> None:
        if not sweeps:
            self.averaging = False
            return
        self.averaging_count = sweeps
        self.averaging = True
        self.write(self.SCPI["average_trigger"])

    def _settings_relied_on(self, params: tuple[str, ...]) -> None:
        """TRIG:SING must sweep simhw's channel whole: every channel triggered, one trigger a sweep."""
        self.trigger_scope = "ALL"
        self.point_trigger = False

    def sweep(self) -> None:
        with self.lock:
            self.write(self.SCPI["trigger_bus"])
            self.write(self._fmt("continuous_on"))
            self.write(self.SCPI["single"])
            reply = self.query("*OPC?", timeout_s=self._sweep_timeout())
            if reply.strip().lstrip("+") != "1":
                raise VNAError(f"unexpected *OPC? reply {reply!r}")

    def _catalog(self) -> list[tuple[str, str]]:
        raise NotImplementedError("ENA traces are numbered, not named")

    def read(self) -> dict[str, np.ndarray]:
        return {
            p: self._check_trace(p, self.query_values(self._fmt("data_q", n=self._numbers[p]))) for p in self._params
        }


FAMILY_DRIVERS = {"keysight": KeysightPNA, "ena": KeysightENA, "rs": RohdeSchwarzZNB}


def open_vna(family: str, resource, **kw) -> SCPIVNA:
    """The VNA driver of ``family`` ('keysight', 'ena' or 'rs') for ``resource``, opened."""
    try:
        cls = FAMILY_DRIVERS[family]
    except KeyError:
        raise ValueError(f"unknown VNA family {family!r}; choose 'keysight', 'ena' or 'rs'") from None
    vna = cls(resource, **kw)
    vna.open()
    return vna
