"""The simulated VNA's data output, the helpers its families declare their command trees with, the IEEE
488.2 common commands and the handlers the families share (a part of
:class:`~sim_backend.vna.instrument.SimVNA`, which holds the state they act on).
"""

from __future__ import annotations

import numpy as np

from sim_backend.scpi import Boolean, Choice, E, Number, ScpiError, Tree, block, fmt_int, fmt_real, text
from sim_backend.vna.state import FORMATS, Channel

__all__ = ["CommandHelpers"]

_STIMULUS = {"start", "stop", "points", "cw", "sweep_type"}


def _onoff(v: bool) -> str:
    return "1" if v else "0"


class CommandHelpers:
    """Data out, setting declarations, common commands and shared handlers of :class:`SimVNA`."""

    # ------------------------------------------------------------------ data out
    def values(self, values: np.ndarray) -> bytes:
        values = np.asarray(values, float).ravel()
        if self.data_format in ("REAL32", "REAL64"):
            dtype = np.dtype("<f8" if self.data_format == "REAL64" else "<f4")
            if self.byte_order == "NORM":
                dtype = dtype.newbyteorder(">")
            return block(values.astype(dtype).tobytes())
        return ",".join(self.real(v) for v in values).encode()

    @staticmethod
    def interleaved(values: np.ndarray) -> np.ndarray:
        out = np.empty(2 * values.size)
        out[0::2], out[1::2] = values.real, values.imag
        return out

    def real(self, v: float) -> str:
        """A real number as this family answers it (NR3, +1.00000000000E+09; the PNA with three exponent
        digits)."""
        return fmt_real(v, self.exponent_digits)

    @staticmethod
    def integer(v: int) -> str:
        return fmt_int(v)

    # ------------------------------------------------------------------ declaration helpers
    def setting(
        self, t: Tree, spec: str, attr: str, param, fmt=None, after=None, chan_index: int = 0, target=None
    ) -> None:
        """A setting with its query, of the channel ``spec``'s suffix ``chan_index`` names (or of
        ``target(suffixes)``: a trace); a numeric setting's query answers MIN, MAX and DEF too."""
        fmt = fmt or (
            self.real
            if isinstance(param, Number) and not param.integer
            else self.integer
            if isinstance(param, Number)
            else _onoff
            if param is Boolean
            else str
        )
        target = target or (lambda s: self.chan(s[chan_index]))

        def set_(s, a):
            if not a:
                raise ScpiError(E.MISSING_PARAMETER, spec)
            if len(a) > 1:
                raise ScpiError(E.PARAM_NOT_ALLOWED, ",".join(a[1:]))
            obj = target(s)
            setattr(obj, attr, param.parse(a[0]))
            if attr in _STIMULUS:
                obj.data.clear()  # the last sweep no longer matches the stimulus
            if after:
                after(obj)

        def get_(s, a):
            if isinstance(param, Number):
                v = param.query(a)
                if v is not None:
                    return fmt(v)
            return fmt(getattr(target(s), attr))

        t.add(spec, set_)
        t.add(spec, get_, query=True)

    def global_setting(self, t: Tree, spec: str, attr: str, param, fmt=str) -> None:
        def set_(s, a):
            if not a:
                raise ScpiError(E.MISSING_PARAMETER, spec)
            setattr(self, attr, param.parse(a[0]))

        t.add(spec, set_)
        t.add(spec, lambda s, a: fmt(getattr(self, attr)), query=True)

    def hz(self, default: float | None = None) -> Number:
        lim = self.limits
        return Number(
            lambda: lim.f_min,
            lambda: lim.f_max,
            (lambda: default) if default else None,
            "HZ",
            step=self.frequency_resolution,
        )

    def stimulus_tree(self, t: Tree, ifbw_specs: tuple[str, ...], sense: str = "[SENSe<n>]") -> None:
        """Frequency, points, IF bandwidth, power, sweep time and averaging: the subtrees every family shares."""
        lim, m = self.limits, self.model
        self.setting(t, f"{sense}:FREQuency:STARt", "start", self.hz(lim.f_min))
        self.setting(t, f"{sense}:FREQuency:STOP", "stop", self.hz(lim.f_max))
        self.setting(t, f"{sense}:FREQuency:CW", "cw", self.hz(lim.f_min))
        span = Number(lambda: 0.0, lambda: lim.f_max - lim.f_min, lambda: lim.f_max - lim.f_min, "HZ")

        def set_center(s, a):
            ch = self.chan(s[0])
            v = self.hz().parse(a[0]) if a else None
            if v is None:
                raise ScpiError(E.MISSING_PARAMETER)
            half = min(ch.span / 2, v - lim.f_min, lim.f_max - v)
            ch.start, ch.stop = v - half, v + half

        def set_span(s, a):
            ch = self.chan(s[0])
            if not a:
                raise ScpiError(E.MISSING_PARAMETER)
            v = span.parse(a[0])
            c = min(max(ch.center, lim.f_min + v / 2), lim.f_max - v / 2)
            ch.start, ch.stop = c - v / 2, c + v / 2

        t.add(f"{sense}:FREQuency:CENTer", set_center)
        t.add(
            f"{sense}:FREQuency:CENTer",
            lambda s, a: self.real(self.hz().query(a) if a else self.chan(s[0]).center),
            query=True,
        )
        t.add(f"{sense}:FREQuency:SPAN", set_span)
        t.add(
            f"{sense}:FREQuency:SPAN", lambda s, a: self.real(span.query(a) if a else self.chan(s[0]).span), query=True
        )
        self.setting(
            t, f"{sense}:SWEep:POINts", "points", Number(lambda: 1, lambda: lim.max_points, lambda: 201, integer=True)
        )
        ifbw = Number(lambda: lim.ifbw_min, lambda: lim.ifbw_max, lambda: min(m.preset_ifbw, lim.ifbw_max), "HZ")
        for spec in ifbw_specs:
            self.setting(t, spec, "ifbw", ifbw)
        power = Number(lambda: lim.power_min, lambda: lim.power_max, lambda: m.preset_power, "DBM")
        self.setting(t, "SOURce<n>:POWer<n>[:LEVel][:IMMediate][:AMPLitude]", "power", power)
        sweep_time = Number(lambda: 0.0, lambda: 86400.0, lambda: 0.0, "S")
        t.add(f"{sense}:SWEep:TIME", lambda s, a: setattr(self.chan(s[0]), "sweep_time_set", sweep_time.parse(a[0])))
        t.add(f"{sense}:SWEep:TIME", lambda s, a: self.real(self.sweep_time(self.chan(s[0]))), query=True)
        t.add(
            f"{sense}:SWEep:TIME:AUTO",
            lambda s, a: setattr(self.chan(s[0]), "sweep_time_set", 0.0) if Boolean.parse(a[0]) else None,
        )
        t.add(f"{sense}:SWEep:TIME:AUTO", lambda s, a: _onoff(self.chan(s[0]).sweep_time_set == 0.0), query=True)
        self.setting(t, f"{sense}:AVERage[:STATe]", "averaging", Boolean)
        self.setting(
            t,
            f"{sense}:AVERage:COUNt",
            "avg_count",
            Number(lambda: 1, lambda: 65536 if self.family != "rs" else 1000000, lambda: 10, integer=True),
        )
        t.add(f"{sense}:AVERage:CLEar", lambda s, a: self.chan(s[0]).data.clear())

    # ------------------------------------------------------------------ IEEE 488.2 common commands
    def _common_commands(self, t: Tree) -> None:
        st = self.status
        t.add("*IDN", lambda s, a: self.model.idn(self.serial), True)
        t.add("*OPT", lambda s, a: self.options_reply(), True)
        t.add("*RST", lambda s, a: self.preset("rst"))
        t.add("*CLS", lambda s, a: st.clear())
        t.add("*ESE", lambda s, a: setattr(st, "ese", int(Number(lambda: 0, lambda: 255, integer=True).parse(a[0]))))
        t.add("*ESE", lambda s, a: str(st.ese), True)
        t.add("*ESR", lambda s, a: str(st.read_esr()), True)
        t.add(
            "*SRE",
            lambda s, a: setattr(st, "sre", int(Number(lambda: 0, lambda: 255, integer=True).parse(a[0])) & ~(1 << 6)),
        )
        t.add("*SRE", lambda s, a: str(st.sre), True)
        t.add("*STB", lambda s, a: str(st.stb()), True)
        t.add("*TST", lambda s, a: "0", True)
        t.add("*OPC", self._opc_query, True)
        t.add("*OPC", lambda s, a: st.opc_when(self.sweeps_done))
        t.add("*WAI", lambda s, a: self.wait())
        t.add("*TRG", lambda s, a: self.bus_trigger())
        t.add("SYSTem:ERRor[:NEXT]", lambda s, a: st.pop(), True)
        t.add("SYSTem:ERRor:COUNt", lambda s, a: self.integer(len(st.errors)), True)
        t.add("SYSTem:ERRor:ALL", lambda s, a: ",".join(st.pop() for _ in range(max(1, len(st.errors)))), True)
        t.add("SYSTem:PRESet", lambda s, a: self.preset("pres"))
        t.add("SYSTem:VERSion", lambda s, a: "1999.0", True)
        t.add("FORMat:BORDer", self._set_border)
        t.add("FORMat:BORDer", lambda s, a: self.byte_order, True)
        # the SCPI-mandated STATus subsystem: nothing operational or questionable to report
        for reg in ("OPERation", "QUEStionable", "QUEStionable:INTegrity", "QUEStionable:INTegrity:HARDware"):
            t.add(f"STATus:{reg}[:EVENt]", lambda s, a: "0", True)
            t.add(f"STATus:{reg}:CONDition", lambda s, a: "0", True)
            t.add(f"STATus:{reg}:ENABle", lambda s, a: None)
            t.add(f"STATus:{reg}:ENABle", lambda s, a: "0", True)
        t.add("STATus:PRESet", lambda s, a: None)
        self.global_setting(t, "OUTPut<n>[:STATe]", "rf_on", Boolean, _onoff)

    def options_reply(self) -> str:
        return ",".join(self.model.options) if self.model.options else "0"

    def bus_trigger(self) -> None:
        for ch in self.triggered_channels():
            self.start_sweep(ch)
            if ch.mode == "SING":
                ch.mode = "HOLD"

    def _opc_query(self, s, a) -> str:
        self.wait()
        if self.stall_next_opc:
            self._stall, self.stall_next_opc = self.stall_next_opc, 0.0
        return "1"

    def _set_border(self, s, a):
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        self.byte_order = Choice("NORMal", "SWAPped").parse(a[0])

    # ------------------------------------------------------------------ handlers the families share
    def check_correction(self, ch: Channel) -> None:
        """Correction turned on needs a cal set in the channel (-221 otherwise, and it stays off)."""
        if ch.correction and not ch.cal_set:
            ch.correction = False
            raise ScpiError(E.SETTINGS_CONFLICT, f"no cal set in channel {ch.number}")

    def turn_on_cal_set(self, ch: Channel, name: str, missing=E.ILLEGAL_VALUE) -> None:
        if name not in self.cal_sets:
            raise ScpiError(missing, f"no cal set {name!r}")
        ch.cal_set, ch.correction = name, True

    def set_selected_format(self, s, a) -> None:
        """CALC<ch>:FORM: the display format of the channel's selected trace."""
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        self.selected_measurement(s[0] or 1).fmt = self.format_name(a[0])

    def set_data_format(self, s, a) -> None:
        """FORM[:DATA] ASCii[,0] | REAL,32 | REAL,64 (a '+' on the length is accepted, as PNAs send it)."""
        if not a:
            raise ScpiError(E.MISSING_PARAMETER)
        kind = Choice("ASCii", "REAL").parse(a[0])
        bits = a[1].strip().lstrip("+") if len(a) > 1 else ("0" if kind == "ASC" else "32")
        if kind == "ASC" and bits == "0":
            self.data_format = "ASC"
        elif kind == "REAL" and bits in ("32", "64"):
            self.data_format = "REAL" + bits
        else:
            raise ScpiError(E.ILLEGAL_VALUE, ",".join(a))

    def format_name(self, fmt: str) -> str:
        return Choice(*FORMATS).parse(fmt)

    def string_arg(self, a: list[str], i: int = 0) -> str:
        if len(a) <= i:
            raise ScpiError(E.MISSING_PARAMETER)
        return text(a[i])
