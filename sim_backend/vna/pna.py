"""Keysight PNA / PNA-X (N52xx) command tree and preset state, after the PNA programming guide.

Preset (``*RST``, ``SYST:PRES``): channel 1 with measurement ``CH1_S11_1`` (number 1, S11) in window
1 as trace 1, selected; the settings are the preset table's (:mod:`.presets`: byte order NORMal,
``FORM ASC,+0`` after ``*RST`` only, ...). ``SYST:FPR`` leaves no measurement and no window.
Measurements are named (``CALC:PAR:EXT``) and numbered (``CALC:PAR:MNUM``, ``SYST:MEAS:CAT?``)
across channels. Smoothing and electrical delay belong to the selected measurement (the VNA help's
"Critical Note" on CALCulate commands); numbers are answered with three exponent digits, as the
help's examples print them (``+1.00000000000E+009``). The segment table's commands are in
:mod:`.pna_segments`.
"""

from __future__ import annotations

import numpy as np

from sim_backend.scpi import Boolean, Choice, E, Number, ScpiError, Tree, fmt_int, text
from sim_backend.vna import presets
from sim_backend.vna.instrument import SimVNA
from sim_backend.vna.pna_segments import PnaSegmentTable

__all__ = ["SimPNA"]

_SWEEP_TYPES = Choice("LINear", "LOGarithmic", "POWer", "CW", "SEGMent", "PHASe")
_SWEEP_MODES = Choice("HOLD", "CONTinuous", "GROups", "SINGle")


def _quoted(items) -> str:
    return '"' + ",".join(str(i) for i in items) + '"'


class SimPNA(PnaSegmentTable, SimVNA):
    family = "keysight"
    exponent_digits = 3

    def build_preset(self) -> None:
        name, param = presets.DEFAULT_TRACE[self.family]
        self.chan(1)
        self.define(1, name, param, number=1)
        self.feed(1, 1, name)

    def factory_preset(self) -> None:
        """SYST:FPReset: the preset, without any measurement or window."""
        self.preset("pres")
        for name in list(self.measurements):
            self.delete(name)
        self.windows.clear()

    def build(self, t: Tree) -> None:
        self.stimulus_tree(t, ("[SENSe<n>]:BWIDth[:RESolution]", "[SENSe<n>]:BANDwidth[:RESolution]"))
        self.setting(t, "[SENSe<n>]:SWEep:TYPE", "sweep_type", _SWEEP_TYPES)
        t.add("[SENSe<n>]:SWEep:MODE", self._set_mode)
        t.add("[SENSe<n>]:SWEep:MODE", self._mode_query, True)
        self.setting(
            t, "[SENSe<n>]:SWEep:GROups:COUNt", "groups", Number(lambda: 1, lambda: 2_000_000, lambda: 1, integer=True)
        )
        self.setting(t, "[SENSe<n>]:SWEep:TRIGger:POINt", "point_trigger", Boolean)
        self.setting(t, "[SENSe<n>]:AVERage:MODE", "avg_mode", Choice("POINt", "SWEep"))
        t.add("[SENSe<n>]:X[:VALues]", lambda s, a: self.values(self.chan(s[0]).frequencies()), True)
        t.add("CALCulate<n>:X[:VALues]", lambda s, a: self.values(self.chan(s[0]).frequencies()), True)
        t.add("[SENSe<n>]:FREQuency:DATA", lambda s, a: self.values(self.chan(s[0]).frequencies()), True)
        # correction and cal sets
        self.setting(t, "[SENSe<n>]:CORRection[:STATe]", "correction", Boolean, after=self.check_correction)
        t.add("[SENSe<n>]:CORRection:CSET:ACTivate", self._activate_cal_set)
        t.add(
            "[SENSe<n>]:CORRection:CSET:ACTivate",
            lambda s, a: f'"{self.chan(s[0]).cal_set or "No Calset Selected"}"',
            True,
        )
        t.add("[SENSe<n>]:CORRection:CSET:DEACtivate", self._deactivate_cal_set)
        t.add("[SENSe<n>]:CORRection:CSET:CATalog", lambda s, a: _quoted(self.cal_sets), True)
        self.segment_tree(t)
        t.add("CALCulate<n>:PARameter:MODify[:EXTended]", self._modify)
        # per measurement: the channel's selected one (CALC<cnum>:...) or by number (CALC:MEAS<mnum>:...)
        for head, pick in (
            ("CALCulate<n>", lambda s: self.selected_measurement(s[0] or 1)),
            ("CALCulate<n>:MEASure<n>", lambda s: self._by_number(s[1])),
        ):
            self.setting(
                t,
                f"{head}:CORRection:EDELay[:TIME]",
                "edelay",
                Number(lambda: -10.0, lambda: 10.0, lambda: 0.0, "S"),
                target=pick,
            )
            self.setting(t, f"{head}:SMOothing[:STATe]", "smoothing", Boolean, target=pick)
            self.setting(
                t,
                f"{head}:SMOothing:APERture",
                "smooth_aperture",
                Number(lambda: 1.0, lambda: 25.0, lambda: 1.5),
                target=pick,
            )
            t.add(f"{head}:SMOothing:POINts", self._set_smoothing_points(pick))
            t.add(f"{head}:SMOothing:POINts", lambda s, a, pick=pick: fmt_int(self._smoothing_points(pick(s))), True)
        # measurements
        t.add("CALCulate<n>:PARameter:EXTended", self._define)
        t.add("CALCulate<n>:PARameter[:DEFine]", self._define)
        t.add("CALCulate<n>:PARameter:DEFine:EXTended", self._define)
        t.add(
            "CALCulate<n>:PARameter:DELete[:NAME]",
            lambda s, a: self.delete(self.measurement(self.string_arg(a), s[0] or 1).name),
        )
        t.add(
            "CALCulate<n>:PARameter:DELete:ALL", lambda s, a: [self.delete(m.name) for m in self.in_channel(s[0] or 1)]
        )
        t.add("CALCulate<n>:PARameter:CATalog[:EXTended]", self._catalog, True)
        t.add("CALCulate<n>:PARameter:SELect", self._select)
        t.add("CALCulate<n>:PARameter:SELect", lambda s, a: f'"{self.selected.get(s[0] or 1, "")}"', True)
        t.add("CALCulate<n>:PARameter:MNUMber[:SELect]", self._select_number)
        t.add(
            "CALCulate<n>:PARameter:MNUMber[:SELect]",
            lambda s, a: fmt_int(self.selected_measurement(s[0] or 1).number),
            True,
        )
        t.add("CALCulate<n>:PARameter:COUNt", lambda s, a: fmt_int(len(self.in_channel(s[0] or 1))), True)
        t.add("CALCulate<n>:PARameter:TAG:NEXT", lambda s, a: f'"CH{s[0] or 1}_{self._next_number()}"', True)
        t.add("CALCulate<n>:MEASure<n>:DEFine", self._measure_define)
        t.add("CALCulate<n>:MEASure<n>:PARameter", lambda s, a: f'"{self._by_number(s[1]).param}"', True)
        t.add(
            "CALCulate<n>:MEASure<n>:DATA:SDATA",
            lambda s, a: self.values(self.interleaved(self.sdata(self._by_number(s[1])))),
            True,
        )
        t.add("CALCulate<n>:MEASure<n>:DATA:FDATA", lambda s, a: self.values(self.fdata(self._by_number(s[1]))), True)
        t.add("CALCulate<n>:FORMat", self.set_selected_format)
        t.add("CALCulate<n>:FORMat", lambda s, a: self.selected_measurement(s[0] or 1).fmt, True)
        t.add("CALCulate<n>:DATA", self._data_query, True)
        t.add("CALCulate<n>:DATA:SNP:PORTs", self._snp_query, True)
        # windows
        t.add("DISPlay:WINDow<n>[:STATe]", self._window_state)
        t.add("DISPlay:WINDow<n>[:STATe]", lambda s, a: "1" if (s[0] or 1) in self.windows else "0", True)
        t.add(
            "DISPlay:WINDow<n>:CATalog",
            lambda s, a: _quoted(sorted(self.windows.get(s[0] or 1, {}))) if self.windows.get(s[0] or 1) else '"EMPTY"',
            True,
        )
        t.add("DISPlay:CATalog", lambda s, a: _quoted(sorted(self.windows)) if self.windows else '"EMPTY"', True)
        t.add("DISPlay:WINDow<n>:TRACe<n>:FEED", lambda s, a: self.feed(s[0] or 1, s[1] or 1, self.string_arg(a)))
        t.add("DISPlay:WINDow<n>:TRACe<n>:DELete", lambda s, a: self.windows.get(s[0] or 1, {}).pop(s[1] or 1, None))
        t.add(
            "DISPlay:WINDow<n>:TRACe:NEXT",
            lambda s, a: fmt_int(max(self.windows.get(s[0] or 1, {0: ""}), default=0) + 1),
            True,
        )
        # channels and the system subtree
        t.add("SYSTem:CHANnels:CATalog", lambda s, a: _quoted(sorted(self.channels)), True)
        t.add("SYSTem:CHANnels:DELete", self._delete_channel)
        t.add("SYSTem:ACTive:CHANnel", lambda s, a: fmt_int(self.active_channel), True)
        t.add("SYSTem:ACTive:MEASurement", lambda s, a: f'"{self.selected.get(self.active_channel, "")}"', True)
        t.add(
            "SYSTem:MEASurement:CATalog",
            lambda s, a: _quoted(
                sorted(m.number for m in self.measurements.values() if not a or m.channel == int(float(a[0])))
            ),
            True,
        )
        t.add("SYSTem:MEASurement<n>:NAME", lambda s, a: f'"{self._by_number(s[0]).name}"', True)
        t.add(
            "SYSTem:MEASurement<n>:WINDow", lambda s, a: fmt_int(self._window_of(self._by_number(s[0]).name)[0]), True
        )
        t.add("SYSTem:MEASurement<n>:TRACe", lambda s, a: fmt_int(self._window_of(self._by_number(s[0]).name)[1]), True)
        t.add("SYSTem:CAPability:HARDware:PORTs:COUNt", lambda s, a: fmt_int(self.limits.ports), True)
        t.add("SYSTem:CAPability:HARDware:PORTs:INTernal:COUNt", lambda s, a: fmt_int(self.limits.ports), True)
        t.add("SYSTem:CAPability:FREQuency:MAXimum", lambda s, a: self.real(self.limits.f_max), True)
        t.add("SYSTem:CAPability:FREQuency:MINimum", lambda s, a: self.real(self.limits.f_min), True)
        t.add("SYSTem:FPReset", lambda s, a: self.factory_preset())
        # trigger
        self.global_setting(t, "TRIGger[:SEQuence]:SOURce", "trigger_source", Choice("IMMediate", "EXTernal", "MANual"))
        self.global_setting(t, "TRIGger[:SEQuence]:SCOPe", "trigger_scope", Choice("ALL", "CURRent"))
        self.setting(t, "TRIGger:CHANnel<n>:AUXiliary<n>[:ENABle]", "aux_enabled", Boolean)
        self.setting(t, "TRIGger:CHANnel<n>:AUXiliary<n>:INTerval", "aux_interval", Choice("POINt", "SWEep"))
        self.setting(t, "TRIGger:CHANnel<n>:AUXiliary<n>:POSition", "aux_position", Choice("BEFore", "AFTer"))
        t.add(
            "TRIGger:CHANnel<n>:AUXiliary<n>:DURation",
            lambda s, a: Number(lambda: 1e-6, lambda: 1.0, unit="S").parse(a[0]),
        )
        t.add("INITiate<n>[:IMMediate]", self._initiate)
        t.add(
            "INITiate:CONTinuous",
            lambda s, a: [
                setattr(c, "mode", "CONT" if Boolean.parse(a[0]) else "HOLD") for c in self.channels.values()
            ],
        )
        t.add(
            "INITiate:CONTinuous",
            lambda s, a: "1" if any(c.mode == "CONT" for c in self.channels.values()) else "0",
            True,
        )
        t.add("ABORt", lambda s, a: self.abort())
        # data format
        t.add("FORMat[:DATA]", self.set_data_format)
        t.add(
            "FORMat[:DATA]",
            lambda s, a: {"ASC": "ASC,+0", "REAL32": "REAL,+32", "REAL64": "REAL,+64"}[self.data_format],
            True,
        )
        self.global_setting(t, "MMEMory:STORe:TRACe:FORMat:SNP", "snp_format", Choice("RI", "MA", "DB", "AUTO"))

    # ------------------------------------------------------------------ handlers
    def _set_mode(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        mode = _SWEEP_MODES.parse(a[0])
        ch = self.chan(s[0])
        if mode in ("SING", "GRO"):
            ch.mode = mode
            if self.trigger_source in ("IMM", "EXT"):
                self.trigger_sweep(ch)  # a single sweep (or group, or an armed one) leaves the channel in hold
                ch.mode, ch.pending_mode = "HOLD", mode
        else:
            ch.mode = mode

    def _mode_query(self, s, a):
        """SING or GRO while the sweep runs (or waits for its trigger events), HOLD once it is done."""
        ch = self.chan(s[0])
        if ch.mode == "HOLD" and ch.pending_mode and self.sweeping(ch):
            return ch.pending_mode
        return ch.mode

    def _smoothing_points(self, m) -> int:
        """The aperture as a number of points: a percentage of the channel's points, rounded to the closest
        odd number (the VNA help, CALCulate:SMOothing:APERture and :POINts)."""
        return max(1, 2 * int(round((m.smooth_aperture / 100 * self.chan(m.channel).n_points - 1) / 2)) + 1)

    def _set_smoothing_points(self, pick):
        def fn(s, a):
            """POINts sets the aperture: points / number of points (the help: 1 up to 25 % of the points)."""
            if not a:
                raise ScpiError(E.MISSING_PARAMETER)
            m = pick(s)
            n = self.chan(m.channel).n_points
            pts = Number(lambda: 1, lambda: max(1, n // 4), lambda: 3, integer=True).parse(a[0])
            m.smooth_aperture = min(25.0, max(1.0, 100.0 * pts / n))

        return fn

    def smoothing_window(self, m, freqs, n):
        """The aperture's odd number of points centred on each point; Smith and polar are not smoothed
        (the VNA help, Trace Smoothing)."""
        if m.fmt in ("SMIT", "POL", "ISM"):
            return None
        k, half = np.arange(n), self._smoothing_points(m) // 2
        return k - half, k + half

    def _modify(self, s, a):
        m = self.selected_measurement(s[0] or 1)
        m.param = self.check_param(self.string_arg(a))
        self.chan(m.channel).data.pop(m.name, None)

    def _initiate(self, s, a):
        ch = self.chan(s[0])
        self.trigger_sweep(ch)
        if ch.mode in ("SING", "GRO"):
            ch.mode = "HOLD"

    def _activate_cal_set(self, s, a):
        if len(a) > 1:
            Boolean.parse(a[1])  # whether to apply the cal set's stimulus: checked; the channel keeps its own
        self.turn_on_cal_set(self.chan(s[0]), self.string_arg(a))

    def _deactivate_cal_set(self, s, a):
        ch = self.chan(s[0])
        ch.cal_set, ch.correction = "", False

    def _next_number(self) -> int:
        return max((m.number for m in self.measurements.values()), default=0) + 1

    def _define(self, s, a):
        if len(a) < 2:
            raise ScpiError(E.MISSING_PARAMETER)
        self.define(s[0] or 1, text(a[0]), a[1])

    def _measure_define(self, s, a):
        ch, number = s[0] or 1, s[1] or 1
        param = self.string_arg(a)
        if any(m.number == number for m in self.measurements.values()):
            raise ScpiError(E.ILLEGAL_VALUE, f"measurement number {number} exists")
        self.define(ch, f"CH{ch}_{param.upper()}_{number}", param, number=number)

    def _by_number(self, number):
        for m in self.measurements.values():
            if m.number == (number or 1):
                return m
        raise ScpiError(E.ILLEGAL_VALUE, f"no measurement number {number}")

    def _window_of(self, name: str) -> tuple[int, int]:
        for w, traces in self.windows.items():
            for tr, n in traces.items():
                if n == name:
                    return w, tr
        return 0, 0

    def _catalog(self, s, a):
        items = self.in_channel(s[0] or 1)
        if not items:
            return '"NO CATALOG"'
        return _quoted(f"{m.name},{m.param}" for m in items)

    def _select(self, s, a):
        name = self.string_arg(a)
        ch = s[0] or 1
        self.measurement(name, ch)
        if len(a) > 1 and Choice("FAST").parse(a[1]) != "FAST":
            raise ScpiError(E.ILLEGAL_VALUE, a[1])
        self.selected[ch] = name
        self.active_channel = ch

    def _select_number(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        m = self._by_number(int(float(a[0])))
        if m.channel != (s[0] or 1):
            raise ScpiError(E.ILLEGAL_VALUE, f"measurement {m.number} is in channel {m.channel}")
        self.selected[m.channel] = m.name
        self.active_channel = m.channel

    def _delete_channel(self, s, a):
        n = int(float(a[0])) if a else 0
        if n not in self.channels:
            raise ScpiError(E.ILLEGAL_VALUE, f"no channel {n}")
        for m in self.in_channel(n):
            self.delete(m.name)
        del self.channels[n]
        if self.active_channel == n:
            self.active_channel = min(self.channels, default=1)

    def _window_state(self, s, a):
        w = s[0] or 1
        if Boolean.parse(a[0]):
            self.windows.setdefault(w, {})
        else:
            self.windows.pop(w, None)

    def _data_query(self, s, a):
        kind = Choice("SDATA", "FDATA", "SMEM", "FMEM").parse(a[0]) if a else ""
        if not kind:
            raise ScpiError(E.MISSING_PARAMETER)
        m = self.selected_measurement(s[0] or 1)
        if kind in ("FDATA", "FMEM"):
            return self.values(self.fdata(m))
        return self.values(self.interleaved(self.sdata(m)))

    def _snp_query(self, s, a):
        ch = self.chan(s[0])
        ports = [int(p) for p in text(a[0]).split(",")] if a else [1, 2]
        for p in ports:
            if not 1 <= p <= self.limits.ports:
                raise ScpiError(E.ILLEGAL_VALUE, f"port {p}")
        self.wait(ch)
        freqs = ch.frequencies()
        s_ = self.dut.s_params(freqs)
        rows = [freqs]
        for i in ports:
            for j in ports:
                v = s_[:, i - 1, j - 1]
                sigma = self._noise_std(ch)
                if sigma:
                    v = v + sigma / 2**0.5 * (
                        self.rng.standard_normal(v.shape) + 1j * self.rng.standard_normal(v.shape)
                    )
                rows += [v.real, v.imag]
        return self.values(np.concatenate(rows))
