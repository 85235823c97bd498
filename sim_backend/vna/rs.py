"""Rohde & Schwarz ZNB / ZNA / ZVA command tree and preset state, after the instruments' user manuals.

Preset (``*RST``, ``SYST:PRES``): channel 1 named ``Ch1``, trace ``Trc1`` measuring S21 in
diagram 1, selected; the settings are the preset table's (:mod:`.presets`: byte order SWAPped,
i.e. least significant byte first, ``FORM ASC,0``, ...). Traces are named (``CALC:PAR:SDEF``),
channels are switched with ``CONF:CHAN<n>`` and addressed with ``INST:NSEL``. The trigger outputs
(``TRIG:CHAN<n>:AUX<m>``) need the trigger board (ZNA-B91) in ``*OPT?``; without it they are
refused with -241 "Hardware missing". ``TRIG<ch>:LINK 'POINt'`` with ``TRIG:SOUR EXT`` measures one
point per external trigger event. The port offsets (``SENS:CORR:EDEL<port>``) are in the
unformatted data, as the data flow of the user manual places them; smoothing is the formatted
trace's, over the points the ZNA user manual's aperture formula names.
"""

from __future__ import annotations

import numpy as np

from sim_backend.scpi import Boolean, Choice, E, Number, ScpiError, Tree, text
from sim_backend.vna import presets
from sim_backend.vna.instrument import SimVNA
from sim_backend.vna.state import Segment

__all__ = ["SimRS"]

_SWEEP_TYPES = Choice("LINear", "LOGarithmic", "SEGMent", "POWer", "CW", "POINt", "PULSe", "IAMPlitude", "IPHase")


def _quoted(items) -> str:
    return "'" + ",".join(str(i) for i in items) + "'"


class SimRS(SimVNA):
    family = "rs"
    error_plus_sign = False

    def build_preset(self) -> None:
        name, param = presets.DEFAULT_TRACE[self.family]
        self.chan(1)
        self.define(1, name, param, number=1)
        self.feed(1, 1, name)
        self.reference, self.reference_hz, self.layout = "INT", 10e6, "LIN"
        self.display_update, self.error_display = "ON", False

    def build(self, t: Tree) -> None:
        self.stimulus_tree(t, ("[SENSe<n>]:BWIDth[:RESolution]", "[SENSe<n>]:BANDwidth[:RESolution]"))
        self.setting(t, "[SENSe<n>]:FREQuency:FIXed", "cw", self.hz(self.limits.f_min))
        self.setting(t, "SOURce<n>:FREQuency<n>:CW", "cw", self.hz(self.limits.f_min))
        self.setting(t, "SOURce<n>:FREQuency<n>:FIXed", "cw", self.hz(self.limits.f_min))
        self.setting(t, "[SENSe<n>]:SWEep:TYPE", "sweep_type", _SWEEP_TYPES)
        t.add(
            "[SENSe<n>]:SWEep:STEP",
            lambda s, a: self.real(self.chan(s[0]).span / max(1, self.chan(s[0]).points - 1)),
            True,
        )
        self.setting(t, "[SENSe<n>]:SWEep:COUNt", "groups", Number(lambda: 1, lambda: 100000, lambda: 1, integer=True))
        self.setting(t, "[SENSe<n>]:AVERage:MODE", "avg_mode", Choice("AUTO", "FLATten", "REDuce", "MOVing"))
        self.setting(t, "[SENSe<n>]:CORRection[:STATe]", "correction", Boolean, after=self.check_correction)
        t.add("[SENSe<n>]:CORRection:CSET[:ACTive]", self._activate_cal_set)
        t.add("[SENSe<n>]:CORRection:CSET[:ACTive]", lambda s, a: f"'{self.chan(s[0]).cal_set}'", True)
        t.add("[SENSe<n>]:CORRection:CSET:CATalog", lambda s, a: _quoted(self.cal_sets), True)
        # segments
        t.add("[SENSe<n>]:SEGMent<n>:INSert", self._segment_insert)
        t.add("[SENSe<n>]:SEGMent<n>:ADD", self._segment_insert)
        t.add("[SENSe<n>]:SEGMent<n>[:DELete]", lambda s, a: self._segments(s).pop(self._seg_index(s)))
        t.add("[SENSe<n>]:SEGMent:DELete:ALL", lambda s, a: self._segments(s).clear())
        t.add("[SENSe<n>]:SEGMent:COUNt", lambda s, a: str(len(self._segments(s))), True)
        t.add("[SENSe<n>]:SEGMent<n>[:STATe]", lambda s, a: setattr(self._segment(s), "on", Boolean.parse(a[0])))
        t.add("[SENSe<n>]:SEGMent<n>[:STATe]", lambda s, a: "1" if self._segment(s).on else "0", True)
        t.add("[SENSe<n>]:SEGMent<n>:SWEep:POINts", lambda s, a: str(self._segment(s).points), True)
        # traces
        t.add("CALCulate<n>:PARameter:SDEFine", self._define)
        t.add("CALCulate<n>:PARameter:MEASure", self._remeasure)
        t.add("CALCulate<n>:PARameter:MEASure", lambda s, a: f"'{self.measurement(self.string_arg(a)).param}'", True)
        t.add("CALCulate<n>:PARameter:DELete", lambda s, a: self.delete(self.measurement(self.string_arg(a)).name))
        t.add("CALCulate<n>:PARameter:DELete:ALL", lambda s, a: [self.delete(n) for n in list(self.measurements)])
        t.add(
            "CALCulate<n>:PARameter:DELete:CALL", lambda s, a: [self.delete(m.name) for m in self.in_channel(s[0] or 1)]
        )
        t.add("CALCulate<n>:PARameter:CATalog", self._catalog, True)
        t.add("CALCulate<n>:PARameter:SELect", self._select)
        t.add("CALCulate<n>:PARameter:SELect", lambda s, a: f"'{self.selected.get(s[0] or 1, '')}'", True)
        t.add("CALCulate<n>:PARameter:DEFine:SGRoup", self._define_group)
        t.add("CALCulate<n>:FORMat", self.set_selected_format)
        t.add("CALCulate<n>:FORMat", lambda s, a: self.selected_measurement(s[0] or 1).fmt, True)
        active = lambda s: self.selected_measurement(s[0] or 1)  # noqa: E731 - the active trace of the channel
        self.setting(t, "CALCulate<n>:SMOothing[:STATe]", "smoothing", Boolean, target=active)
        self.setting(
            t,
            "CALCulate<n>:SMOothing:APERture",
            "smooth_aperture",
            Number(lambda: 0.05, lambda: 100.0, lambda: 1.0),
            target=active,
        )
        t.add("CALCulate<n>:DATA", self._data_query, True)
        t.add("CALCulate<n>:DATA:SGRoup", self._group_query, True)
        t.add("CALCulate<n>:DATA:STIMulus", lambda s, a: self.values(self.chan(s[0]).frequencies()), True)
        delay = Number(lambda: -10.0, lambda: 10.0, lambda: 0.0, "S")
        t.add("[SENSe<n>]:CORRection:EDELay<n>[:TIME]", self._set_port_delay(delay))
        t.add(
            "[SENSe<n>]:CORRection:EDELay<n>[:TIME]",
            lambda s, a: self.real(delay.query(a) if a else self.chan(s[0]).port_delays.get(self._port(s[1]), 0.0)),
            True,
        )
        t.add("[SENSe<n>]:CORRection:EDELay<n>:AUTO", lambda s, a: Choice("ONCE").parse(a[0]) if a else None)
        t.add("DISPlay[:WINDow<n>]:TRACe<n>:Y[:SCALe]:AUTO", lambda s, a: Choice("ONCE").parse(a[0]) if a else None)
        self.global_setting(t, "ROSCillator[:SOURce]", "reference", Choice("INTernal", "EXTernal"))
        self.global_setting(
            t,
            "ROSCillator:EXTernal:FREQuency",
            "reference_hz",
            Number(lambda: 1e6, lambda: 100e6, lambda: 10e6, "HZ"),
            lambda v: f"{v:.0f}Hz",
        )
        self.global_setting(t, "DISPlay:LAYout", "layout", Choice("LINear", "STACk", "HORizontal", "VERTical", "GRID"))
        t.add("DISPlay:LAYout:GRID", lambda s, a: setattr(self, "grid", tuple(int(float(x)) for x in a)))
        self.global_setting(t, "SYSTem:DISPlay:UPDate", "display_update", Choice("ON", "OFF", "ONCE"))
        self.global_setting(t, "SYSTem:ERRor:DISPlay", "error_display", Boolean, lambda v: "1" if v else "0")
        t.add(
            "CONFigure:CHANnel<n>:MEASure[:ALL]",
            lambda s, a: setattr(self.chan(s[0]), "measuring", Boolean.parse(a[0])),
        )
        t.add(
            "CONFigure:CHANnel<n>:MEASure[:ALL]",
            lambda s, a: "1" if getattr(self.chan(s[0]), "measuring", True) else "0",
            True,
        )
        # channels, display, instrument
        t.add("CONFigure:CHANnel<n>[:STATe]", self._channel_state)
        t.add("CONFigure:CHANnel<n>[:STATe]", lambda s, a: "1" if (s[0] or 1) in self.channels else "0", True)
        t.add(
            "CONFigure:CHANnel<n>:NAME", lambda s, a: setattr(self.chan(s[0], create=False), "name", self.string_arg(a))
        )
        t.add("CONFigure:CHANnel<n>:NAME", lambda s, a: f"'{self.chan(s[0], create=False).name}'", True)
        t.add(
            "CONFigure:CHANnel<n>:CATalog",
            lambda s, a: _quoted(x for n in sorted(self.channels) for x in (n, self.channels[n].name)),
            True,
        )
        t.add(
            "CONFigure:TRACe:CATalog",
            lambda s, a: _quoted(x for m in self.measurements.values() for x in (m.number, m.name)),
            True,
        )
        t.add("INSTrument:NSELect", self._select_channel)
        t.add("INSTrument:NSELect", lambda s, a: str(self.active_channel), True)
        t.add("INSTrument:PORT:COUNt", lambda s, a: str(self.limits.ports), True)
        t.add(
            "DISPlay[:WINDow<n>][:STATe]",
            lambda s, a: (
                self.windows.setdefault(s[0] or 1, {}) if Boolean.parse(a[0]) else self.windows.pop(s[0] or 1, None)
            ),
        )
        t.add("DISPlay[:WINDow<n>]:TRACe<n>:FEED", lambda s, a: self.feed(s[0] or 1, s[1] or 1, self.string_arg(a)))
        t.add("DISPlay[:WINDow<n>]:TRACe<n>:EFEed", self._efeed)
        t.add("DISPlay[:WINDow<n>]:TRACe<n>:DELete", lambda s, a: self.windows.get(s[0] or 1, {}).pop(s[1] or 1, None))
        t.add(
            "DISPlay[:WINDow<n>]:TRACe:CATalog",
            lambda s, a: _quoted(x for tr, n in sorted(self.windows.get(s[0] or 1, {}).items()) for x in (tr, n)),
            True,
        )
        # trigger
        self.global_setting(
            t,
            "TRIGger<n>[:SEQuence]:SOURce",
            "trigger_source",
            Choice("IMMediate", "EXTernal", "MANual", "MULTiple", "FREerun"),
        )
        t.add("TRIGger<n>[:SEQuence]:LINK", self._set_link)
        t.add(
            "TRIGger<n>[:SEQuence]:LINK",
            lambda s, a: {"SWE": "'SWEep'", "SEGM": "'SEGMent'", "POIN": "'POINt'", "PPO": "'PPOint'"}[
                self.chan(s[0]).trigger_link
            ],
            True,
        )
        t.add("ABORt", lambda s, a: self.abort())
        for field, spec, param in (
            ("aux_enabled", "[:ENABle]", Boolean),
            ("aux_interval", ":INTerval", Choice("POINt", "SWEep", "SEGMent", "PPOint")),
            ("aux_position", ":POSition", Choice("BEFore", "AFTer")),
        ):
            t.add(f"TRIGger:CHANnel<n>:AUXiliary<n>{spec}", self._aux_set(field, param))
            t.add(f"TRIGger:CHANnel<n>:AUXiliary<n>{spec}", self._aux_get(field), True)
        t.add("INITiate<n>[:IMMediate][:DUMMy]", self._initiate)
        t.add("INITiate<n>[:IMMediate]:ALL", lambda s, a: [self._sweep_once(c) for c in list(self.channels.values())])
        self.global_setting(t, "INITiate<n>[:IMMediate]:SCOPe", "trigger_scope", Choice("ALL", "SINGle"))
        t.add(
            "INITiate<n>:CONTinuous",
            lambda s, a: setattr(self.chan(s[0]), "mode", "CONT" if Boolean.parse(a[0]) else "HOLD"),
        )
        t.add("INITiate<n>:CONTinuous", lambda s, a: "1" if self.chan(s[0]).mode == "CONT" else "0", True)
        t.add(
            "INITiate<n>:CONTinuous:ALL",
            lambda s, a: [
                setattr(c, "mode", "CONT" if Boolean.parse(a[0]) else "HOLD") for c in self.channels.values()
            ],
        )
        t.add("FORMat[:DATA]", self.set_data_format)
        t.add(
            "FORMat[:DATA]",
            lambda s, a: {"ASC": "ASC,0", "REAL32": "REAL,32", "REAL64": "REAL,64"}[self.data_format],
            True,
        )

    # ------------------------------------------------------------------ handlers
    def _aux_check(self):
        if "ZNA-B91" not in self.model.options:
            raise ScpiError(E.HARDWARE_MISSING, "trigger outputs need the R&S ZNA-B91 trigger board")

    def _aux_set(self, field, param):
        def fn(s, a):
            self._aux_check()
            if not a:
                raise ScpiError(E.MISSING_PARAMETER)
            setattr(self.chan(s[0]), field, param.parse(a[0]))

        return fn

    def _aux_get(self, field):
        def fn(s, a):
            self._aux_check()
            v = getattr(self.chan(s[0]), field)
            return ("1" if v else "0") if isinstance(v, bool) else v

        return fn

    def _set_link(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        ch = self.chan(s[0])
        ch.trigger_link = Choice("SWEep", "SEGMent", "POINt", "PPOint").parse(a[0])

    def point_triggered(self, ch) -> bool:
        """TRIG:LINK 'POINt' (or 'PPOint', each partial measurement: one per point here)."""
        return ch.trigger_link in ("POIN", "PPO")

    def _port(self, n) -> int:
        port = n or 1
        if not 1 <= port <= self.limits.ports:
            raise ScpiError(E.HEADER_SUFFIX, f"port {port}")
        return port

    def _set_port_delay(self, delay: Number):
        def fn(s, a):
            if not a:
                raise ScpiError(E.MISSING_PARAMETER)
            self.chan(s[0]).port_delays[self._port(s[1])] = delay.parse(a[0])

        return fn

    def sdata(self, m):
        """The port offsets are in the unformatted data: S_ij is rotated by the delays of ports i and j
        (a reflection twice its port's: the offset line is passed both ways)."""
        data = self.trace(m)
        delays = self.chan(m.channel).port_delays
        tau = delays.get(int(m.param[1]), 0.0) + delays.get(int(m.param[2]), 0.0)
        return data * np.exp(2j * np.pi * self.chan(m.channel).frequencies() * tau) if tau else data

    def smoothing_window(self, m, freqs, n):
        """The ZNA user manual's rule: point n (1-based) is the mean of points max(1, ceil(n - a/100 N/2))
        to min(N, floor(n + a/100 N/2)) for an aperture of a %; every format is smoothed."""
        k = np.arange(1, n + 1)
        half = m.smooth_aperture / 100 * n / 2
        return np.ceil(k - half - 1e-9).astype(int) - 1, np.floor(k + half + 1e-9).astype(int) - 1

    def _sweep_once(self, ch):
        self.trigger_sweep(ch)
        if ch.mode != "CONT":
            ch.mode = "HOLD"

    def _initiate(self, s, a):
        chans = self.triggered_channels() if self.trigger_scope == "ALL" else [self.chan(s[0])]
        for ch in chans if s[0] is None else [self.chan(s[0])]:
            self._sweep_once(ch)

    def _activate_cal_set(self, s, a):
        self.turn_on_cal_set(self.chan(s[0]), self.string_arg(a))

    def _segments(self, s):
        return self.chan(s[0]).segments

    def _seg_index(self, s):
        segs = self._segments(s)
        n = (s[1] if len(s) > 1 else None) or 1
        if not 1 <= n <= len(segs):
            raise ScpiError(E.HEADER_SUFFIX, f"segment {n}")
        return n - 1

    def _segment(self, s):
        return self._segments(s)[self._seg_index(s)]

    def _segment_insert(self, s, a):
        if len(a) < 3:
            raise ScpiError(E.MISSING_PARAMETER, "start, stop, points")
        start, stop = self.hz().parse(a[0]), self.hz().parse(a[1])
        points = int(Number(lambda: 1, lambda: self.limits.max_points, integer=True).parse(a[2]))
        segs = self._segments(s)
        n = s[1] or len(segs) + 1
        segs.insert(min(n, len(segs) + 1) - 1, Segment(start, stop, points))

    def _define(self, s, a):
        if len(a) < 2:
            raise ScpiError(E.MISSING_PARAMETER)
        name = text(a[0])
        self.define(s[0] or 1, name, text(a[1]))
        self.selected[s[0] or 1] = name

    def _remeasure(self, s, a):
        if len(a) < 2:
            raise ScpiError(E.MISSING_PARAMETER)
        m = self.measurement(text(a[0]))
        m.param = self.check_param(text(a[1]))
        self.chan(m.channel).data.pop(m.name, None)

    def _catalog(self, s, a):
        return _quoted(x for m in self.in_channel(s[0] or 1) for x in (m.name, m.param))

    def _select(self, s, a):
        name = self.string_arg(a)
        self.measurement(name, s[0] or 1)
        self.selected[s[0] or 1] = name

    def _efeed(self, s, a):
        name = self.string_arg(a)
        w = s[0] or 1
        traces = self.windows.setdefault(w, {})
        if name not in traces.values():
            self.feed(w, max(traces, default=0) + 1, name)

    def _define_group(self, s, a):
        try:
            ports = [int(float(x)) for x in a]
        except ValueError:
            raise ScpiError(E.DATA_TYPE, ",".join(a)) from None
        if not ports or any(not 1 <= p <= self.limits.ports for p in ports):
            raise ScpiError(E.ILLEGAL_VALUE, ",".join(a))
        self.chan(s[0]).group = ports

    def _group_query(self, s, a):
        ch = self.chan(s[0])
        ports = getattr(ch, "group", None)
        if not ports:
            raise ScpiError(E.SETTINGS_CONFLICT, "no S-parameter group defined")
        self.wait(ch)
        freqs = ch.frequencies()
        s_ = self.dut.s_params(freqs)
        block_ = np.stack([s_[:, i - 1, j - 1] for i in ports for j in ports])  # (n*n, F)
        return self.values(np.stack([block_.real, block_.imag], axis=-1).ravel())

    def _select_channel(self, s, a):
        n = int(float(a[0])) if a else 0
        if n not in self.channels:
            raise ScpiError(E.ILLEGAL_VALUE, f"no channel {n}")
        self.active_channel = n

    def _channel_state(self, s, a):
        n = s[0] or 1
        if Boolean.parse(a[0]):
            self.chan(n)
        elif n in self.channels:
            if len(self.channels) == 1:
                raise ScpiError(E.SETTINGS_CONFLICT, "the last channel cannot be switched off")
            for m in self.in_channel(n):
                self.delete(m.name)
            del self.channels[n]
            if self.active_channel == n:
                self.active_channel = min(self.channels)

    def _data_query(self, s, a):
        kind = Choice("SDATa", "FDATa", "MDATa", "SDATA", "FDATA").parse(a[0]) if a else ""
        if not kind:
            raise ScpiError(E.MISSING_PARAMETER)
        m = self.selected_measurement(s[0] or 1)
        if kind.startswith("F"):
            return self.values(self.fdata(m))
        return self.values(self.interleaved(self.sdata(m)))

    def real(self, v: float) -> str:
        """R&S answers numbers plainly: 1000000000, 0.0015, -10."""
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e18 else f"{v:.12g}"

    @staticmethod
    def integer(v: int) -> str:
        return str(int(v))

    def sweeps_per_trigger(self, ch) -> int:
        """A single sweep runs the channel's sweep count (SENS:SWE:COUN) sweeps."""
        return max(1, ch.groups)

    def free_running(self, ch) -> bool:
        return ch.mode == "CONT" and self.trigger_source in ("IMM", "FRE")
