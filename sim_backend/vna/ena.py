"""Keysight ENA (E5071C style), E5080 and Copper Mountain command tree and preset state.

In this dialect traces are numbered per channel (``CALC<ch>:PAR:COUN``, ``CALC<ch>:PAR<tr>:DEF``),
the selected trace is read through ``CALC<ch>:SEL:...``, and the trigger is instrument-wide:
``TRIG:SOUR INT|EXT|MAN|BUS``, ``TRIG:SING`` for one sweep, ``TRIG:POIN`` for a trigger per point.
Preset (``*RST``, ``SYST:PRES``): channel 1 active with one trace, trace 1 S11; the settings are the
preset table's (:mod:`.presets`: trigger source INTernal, ``FORM:DATA ASC``, the E5071C's channel 1
on hold after ``*RST`` but continuous after ``SYST:PRES``, ...). Calibration coefficients are loaded
by name (``MMEM:LOAD:CHAN:COEF``) and applied with ``SENS:CORR:STAT``. Smoothing (its aperture a
percentage of the sweep span) and electrical delay belong to the trace.
"""

from __future__ import annotations

import numpy as np

from sim_backend.scpi import Boolean, Choice, E, Number, ScpiError, Tree, fmt_int, text
from sim_backend.vna import presets
from sim_backend.vna.instrument import SimVNA
from sim_backend.vna.state import Segment

__all__ = ["SimENA"]

MAX_TRACES = 16


class SimENA(SimVNA):
    family = "ena"
    # instrument-wide trigger settings (the preset table sets them)
    trigger_output = point_trigger = trigger_average = False

    def build_preset(self) -> None:
        self.trigger_output_position = "AFT"
        self.split = 1
        self.active_trace: dict[int, int] = {}
        self.set_trace_count(1, 1)

    # ------------------------------------------------------------------ traces
    def trace_name(self, ch: int, tr: int) -> str:
        return f"CH{ch}_TR{tr}"

    def set_trace_count(self, ch: int, n: int) -> None:
        if not 1 <= n <= MAX_TRACES:
            raise ScpiError(E.OUT_OF_RANGE, str(n))
        for m in self.in_channel(ch):
            if m.number > n:
                self.delete(m.name)
        for tr in range(1, n + 1):
            if self.trace_name(ch, tr) not in self.measurements:
                self.define(ch, self.trace_name(ch, tr), presets.DEFAULT_TRACE[self.family][1], number=tr)
                self.feed(ch, tr, self.trace_name(ch, tr))
        if self.active_trace.get(ch, 1) > n:
            self.active_trace[ch] = 1
        self.active_trace.setdefault(ch, 1)

    def ena_trace(self, ch: int | None, tr: int | None):
        ch = ch or 1
        tr = tr or self.active_trace.get(ch, 1)
        if ch not in self.channels:
            raise ScpiError(E.SETTINGS_CONFLICT, f"channel {ch} is not displayed")
        name = self.trace_name(ch, tr)
        if name not in self.measurements:
            raise ScpiError(E.HEADER_SUFFIX, f"trace {tr} (channel {ch} has {len(self.in_channel(ch))})")
        return self.measurements[name]

    def selected_measurement(self, ch: int):
        return self.ena_trace(ch, None)

    def sweeps_per_trigger(self, ch) -> int:
        """With TRIG:AVER ON one trigger completes the channel's average."""
        return max(1, ch.avg_count) if (self.trigger_average and ch.averaging) else 1

    def aux_per_point(self, ch):
        return self.trigger_output and self.point_trigger, self.trigger_output_position == "BEF"

    def point_triggered(self, ch) -> bool:
        return self.point_trigger

    def smoothing_window(self, m, freqs, n):
        """The aperture is a percentage of the sweep span: the points within +- span * aperture / 200 of
        each point's stimulus (by point number where the stimulus does not change: CW, power)."""
        x = freqs if n > 1 and np.ptp(freqs) > 0 else np.arange(n, dtype=float)
        half = np.ptp(x) * m.smooth_aperture / 200
        return np.searchsorted(x, x - half * (1 + 1e-12), "left"), np.searchsorted(
            x, x + half * (1 + 1e-12), "right"
        ) - 1

    # ------------------------------------------------------------------ tree
    def build(self, t: Tree) -> None:
        self.stimulus_tree(t, ("[SENSe<n>]:BWIDth[:RESolution]", "[SENSe<n>]:BANDwidth[:RESolution]"))
        self.setting(
            t, "[SENSe<n>]:SWEep:TYPE", "sweep_type", Choice("LINear", "LOGarithmic", "SEGMent", "POWer", "CW")
        )
        t.add("[SENSe<n>]:FREQuency:DATA", lambda s, a: self.values(self.chan(s[0]).frequencies()), True)
        t.add("[SENSe<n>]:SEGMent:DATA", self._set_segments)
        t.add("[SENSe<n>]:SEGMent:DATA", self._get_segments, True)
        t.add("[SENSe<n>]:SEGMent:SWEep:POINts", lambda s, a: fmt_int(self.chan(s[0]).n_points), True)
        self.setting(t, "[SENSe<n>]:CORRection:STATe", "correction", Boolean, after=self.check_correction)
        t.add("MMEMory:LOAD:CHANnel:COEFficient", self._load_coefficients)
        t.add("[SENSe<n>]:CORRection:PROPerty", lambda s, a: f'"{self.chan(s[0]).cal_set}"', True)
        t.add("[SENSe<n>]:DATA:CORRdata", self._corrected, True)
        t.add("[SENSe<n>]:DATA:RAWData", self._corrected, True)
        # traces
        t.add(
            "CALCulate<n>:PARameter:COUNt",
            lambda s, a: self.set_trace_count(
                s[0] or 1, int(Number(lambda: 1, lambda: MAX_TRACES, integer=True).parse(a[0]))
            ),
        )
        t.add("CALCulate<n>:PARameter:COUNt", lambda s, a: str(len(self.in_channel(s[0] or 1))), True)
        t.add("CALCulate<n>:PARameter<n>:DEFine", self._define)
        t.add("CALCulate<n>:PARameter<n>:DEFine", lambda s, a: self.ena_trace(s[0], s[1]).param, True)
        t.add("CALCulate<n>:PARameter<n>:SPORt", lambda s, a: None)
        t.add("CALCulate<n>:PARameter<n>:SPORt", lambda s, a: self.ena_trace(s[0], s[1]).param[2], True)
        t.add("CALCulate<n>:PARameter<n>:SELect", self._select)
        for sel in ("CALCulate<n>[:SELected]", "CALCulate<n>:TRACe<n>"):
            t.add(f"{sel}:DATA:SDATa", lambda s, a: self.values(self.interleaved(self.sdata(self._pick(s)))), True)
            t.add(f"{sel}:DATA:FDATa", lambda s, a: self.values(self._two_column(self._pick(s))), True)
            t.add(f"{sel}:FORMat", self._set_trace_format)
            t.add(f"{sel}:FORMat", lambda s, a: self._pick(s).fmt, True)
            self.setting(t, f"{sel}:SMOothing[:STATe]", "smoothing", Boolean, target=self._pick)
            self.setting(
                t,
                f"{sel}:SMOothing:APERture",
                "smooth_aperture",
                Number(lambda: 0.05, lambda: 25.0, lambda: 1.5),
                target=self._pick,
            )
            self.setting(
                t,
                f"{sel}:CORRection:EDELay:TIME",
                "edelay",
                Number(lambda: -10.0, lambda: 10.0, lambda: 0.0, "S"),
                target=self._pick,
            )
        # display, service
        t.add("DISPlay:SPLit", lambda s, a: setattr(self, "split", a[0].strip().upper()) if a else None)
        t.add("DISPlay:SPLit", lambda s, a: str(self.split), True)
        t.add("DISPlay:WINDow<n>:ACTivate", self._activate_window)
        t.add("SERVice:CHANnel:ACTive", lambda s, a: str(self.active_channel), True)
        t.add("SERVice:CHANnel:COUNt", lambda s, a: "16", True)
        t.add("SERVice:CHANnel<n>:TRACe:ACTive", lambda s, a: str(self.active_trace.get(s[0] or 1, 1)), True)
        t.add("SERVice:CHANnel<n>:TRACe:COUNt", lambda s, a: str(MAX_TRACES), True)
        t.add("SERVice:PORT:COUNt", lambda s, a: str(self.limits.ports), True)
        t.add("SERVice:SWEep:FREQuency:MAXimum", lambda s, a: f"{self.limits.f_max:+.11E}", True)
        t.add("SERVice:SWEep:FREQuency:MINimum", lambda s, a: f"{self.limits.f_min:+.11E}", True)
        t.add("SERVice:SWEep:POINts", lambda s, a: str(self.limits.max_points), True)
        # trigger
        self.global_setting(
            t, "TRIGger[:SEQuence]:SOURce", "trigger_source", Choice("INTernal", "EXTernal", "MANual", "BUS")
        )
        self.global_setting(t, "TRIGger[:SEQuence]:SCOPe", "trigger_scope", Choice("ALL", "ACTive"))
        self.global_setting(t, "TRIGger[:SEQuence]:POINt", "point_trigger", Boolean, lambda v: "1" if v else "0")
        self.global_setting(t, "TRIGger[:SEQuence]:AVERage", "trigger_average", Boolean, lambda v: "1" if v else "0")
        self.global_setting(
            t, "TRIGger[:SEQuence]:OUTPut[:STATe]", "trigger_output", Boolean, lambda v: "1" if v else "0"
        )
        self.global_setting(
            t, "TRIGger[:SEQuence]:OUTPut:POSition", "trigger_output_position", Choice("BEFore", "AFTer")
        )
        t.add("TRIGger[:SEQuence]:SINGle", lambda s, a: self._trigger(single=True))
        t.add("TRIGger[:SEQuence][:IMMediate]", lambda s, a: self._trigger(single=False))
        t.add("INITiate<n>[:IMMediate]", self._initiate)
        t.add(
            "INITiate<n>:CONTinuous",
            lambda s, a: setattr(self.chan(s[0]), "mode", "CONT" if Boolean.parse(a[0]) else "HOLD"),
        )
        t.add("INITiate<n>:CONTinuous", lambda s, a: "1" if self.chan(s[0]).mode == "CONT" else "0", True)
        t.add("ABORt", lambda s, a: self.abort())
        t.add("FORMat[:DATA]", self._set_format)
        t.add(
            "FORMat[:DATA]", lambda s, a: {"ASC": "ASC", "REAL32": "REAL32", "REAL64": "REAL"}[self.data_format], True
        )

    # ------------------------------------------------------------------ handlers
    def _pick(self, s):
        return self.ena_trace(s[0], s[1] if len(s) > 1 else None)

    def _two_column(self, m):
        f = self.fdata(m)
        if f.shape[1] == 1:
            f = np.concatenate([f, np.zeros_like(f)], axis=1)  # the secondary value of a scalar format is 0
        return f

    def _define(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        m = self.ena_trace(s[0], s[1])
        param = self.check_param(text(a[0]))
        if param != m.param:
            m.param = param
            self.chan(m.channel).data.pop(m.name, None)

    def _select(self, s, a):
        self.ena_trace(s[0], s[1])
        self.active_trace[s[0] or 1] = s[1] or 1

    def _activate_window(self, s, a):
        self.chan(s[0])
        if not self.in_channel(s[0] or 1):
            self.set_trace_count(s[0] or 1, 1)
        self.active_channel = s[0] or 1

    def _set_trace_format(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        self._pick(s).fmt = self.format_name(a[0])

    def _trigger(self, single: bool):
        if self.trigger_source != "BUS":
            raise ScpiError(E.SETTINGS_CONFLICT, "trigger source is not BUS")
        for ch in self.triggered_channels():
            if ch.mode == "CONT" or ch.mode == "SING":
                self.start_sweep(ch)
                if ch.mode == "SING":
                    ch.mode = "HOLD"

    def _initiate(self, s, a):
        ch = self.chan(s[0])
        if ch.mode == "HOLD":
            ch.mode = "SING"  # initiated: the next trigger sweeps once
        if self.trigger_source in ("INT", "EXT"):
            self.trigger_sweep(ch)  # at once, or armed for the external trigger events
            ch.mode = "HOLD" if ch.mode == "SING" else ch.mode

    def _load_coefficients(self, s, a):
        self.turn_on_cal_set(self.chan(self.active_channel), self.string_arg(a), missing=E.EXECUTION)

    def _corrected(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        param = self.check_param(a[0])
        ch = self.chan(s[0])
        names = [m for m in self.in_channel(ch.number) if m.param == param]
        if not names:
            raise ScpiError(E.SETTINGS_CONFLICT, f"{param} is not measured in channel {ch.number}")
        return self.values(self.interleaved(self.sdata(names[0])))

    def _set_segments(self, s, a):
        """Type 5 segment data: 5, mode, ifbw, power, delay, sweep time, sweep mode?, count, then
        start, stop, points per segment (the optional columns not set)."""
        try:
            v = [float(x) for x in a]
        except ValueError:
            raise ScpiError(E.DATA_TYPE, ",".join(a)) from None
        if len(v) < 7 or int(v[0]) != 5:
            raise ScpiError(E.ILLEGAL_VALUE, "segment data must start with type 5")
        n = int(v[6])
        body = v[7:]
        if any(v[2:6]) or len(body) != 3 * n:
            raise ScpiError(E.ILLEGAL_VALUE, "segment data: start, stop, points per segment expected")
        segs = [Segment(body[3 * i], body[3 * i + 1], int(body[3 * i + 2])) for i in range(n)]
        lim = self.limits
        if any(not lim.f_min <= x <= lim.f_max for seg in segs for x in (seg.start, seg.stop)):
            raise ScpiError(E.OUT_OF_RANGE, "segment frequency")
        self.chan(s[0]).segments = segs

    def _get_segments(self, s, a):
        segs = self.chan(s[0]).segments
        vals = [5, 0, 0, 0, 0, 0, len(segs)] + [x for g in segs for x in (g.start, g.stop, g.points)]
        return ",".join(f"{x:+.11E}" if isinstance(x, float) else str(x) for x in vals)

    def _set_format(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        word = a[0].strip().upper()
        fmt = {"ASC": "ASC", "ASCII": "ASC", "REAL": "REAL64", "REAL32": "REAL32"}.get(word)
        if fmt is None:
            raise ScpiError(E.ILLEGAL_VALUE, a[0])
        self.data_format = fmt
