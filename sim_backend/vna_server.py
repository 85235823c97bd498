"""A simulated vector network analyzer: the instrument behind the SCPI server of :mod:`sim_backend.vna_tcp`.

Reached through pyvisa-py as ``TCPIP0::127.0.0.1::<port>::SOCKET``. Speaks a Keysight PNA-style
dialect (``keysight``) or a Rohde & Schwarz ZNB-style dialect (``rs``), chosen at start, and is
strict the way instruments are: only queries are answered, every reply ends with exactly one
``\\n``, commands may arrive split or merged across TCP reads, an unknown header queues
``-113,"Undefined header"``, a value outside the instrument's range queues ``-222,"Data out of
range"`` and leaves the setting unchanged, binary data goes out as IEEE 488.2 definite-length
blocks, ``*OPC?`` answers only once the simulated sweep time has passed, and a single sweep
leaves the channel in HOLD.

Traces come from a device under test (``dut``) with ``s_params(frequencies) -> (F, n, n)`` at the
moment of the sweep, plus receiver noise whose power is kT * IFBW * noise figure relative to the
source power. With the auxiliary trigger output enabled per point (``TRIG:CHAN:AUX``) in a CW
sweep, the instrument pulses ``dut.trigger()`` after each point, so a board sequencer can step a
stored configuration per point (the triggered list measurement).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from drivers.vna_limits import VNALimits
from sim_backend.scpi import block, fmt_int, fmt_real, pattern, split_args, split_message, unquote

__all__ = ["SimVNA", "ChannelState", "VNALimits"]

BOLTZMANN_DBM_HZ = -174.0



@runtime_checkable
class TriggeredDUT(Protocol):
    """A device whose state steps on the VNA's per-point trigger out (the simulated SIM and its board)."""

    def s_params_list(self, frequency: float, points: int, t0: float, t_point: float, before: bool = False): ...

class ScpiError(Exception):
    def __init__(self, code: int, text: str, detail: str = ""):
        self.code, self.text = code, text + (f"; {detail}" if detail else "")


UNDEFINED_HEADER = (-113, "Undefined header")
OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_VALUE = (-224, "Illegal parameter value")
MISSING_PARAMETER = (-109, "Missing parameter")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_TYPE = (-104, "Data type error")


@dataclass
class ChannelState:
    start: float = 26e9
    stop: float = 30e9
    points: int = 201
    ifbw: float = 10e3
    power: float = -10.0
    cw: float = 28e9
    sweep_type: str = "LIN"
    sweep_mode: str = "CONT"
    averaging: bool = False
    avg_count: int = 1
    avg_mode: str = "POIN"
    traces: dict = field(default_factory=dict)  # name -> "S21"
    selected: str = ""
    data: dict = field(default_factory=dict)  # name -> complex array of the last sweep
    busy_until: float = 0.0
    aux_trigger: bool = False
    aux_interval: str = "POIN"
    aux_position: str = "AFT"

    def frequencies(self) -> np.ndarray:
        if self.sweep_type == "CW":
            return np.full(self.points, self.cw)
        return np.linspace(self.start, self.stop, self.points)


class SimVNA:
    """The instrument: state, SCPI command table and sweep model. Thread-safe (one lock)."""

    point_overhead = 10e-6
    sweep_overhead = 1e-3

    def __init__(self, dut, dialect: str = "keysight", noise: bool = True, noise_figure_db: float = 10.0,
                 limits: VNALimits | None = None, seed: int | None = None, serial: str = "SIM000001"):
        if dialect not in ("keysight", "rs"):
            raise ValueError("dialect must be 'keysight' or 'rs'")
        self.dut = dut
        self.dialect = dialect
        self.noise = noise
        self.noise_figure_db = noise_figure_db
        self.limits = limits or VNALimits(10e6, 67e9)
        self.rng = np.random.default_rng(seed)
        self.serial = serial
        self.lock = threading.RLock()
        self.sweeps = 0
        self.stall_next_opc = 0.0  # fault: the next *OPC? stays silent this long
        self.drop_next = False  # fault: the next command closes the connection
        self._reset()
        self._commands = self._command_table()

    # ------------------------------------------------------------------ state
    def _reset(self):
        self.channels = {1: ChannelState()}
        self.errors: list[tuple[int, str]] = []
        self.format = "ASC,0"
        self.byte_order = "NORM"
        self.trigger_source = "IMM"
        self.snp_format = "RI"
        if self.dialect == "rs":
            self.channels[1].traces = {"Trc1": "S21"}
            self.channels[1].selected = "Trc1"

    def chan(self, n: str | int) -> ChannelState:
        n = int(n) if n else 1
        ch = self.channels.get(n)
        if ch is None:
            ch = self.channels[n] = ChannelState()
        return ch

    def push_error(self, err: tuple[int, str], detail: str = "") -> None:
        if len(self.errors) >= 100:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((err[0], err[1] + (f"; {detail}" if detail else "")))

    def sweep_time(self, ch: ChannelState) -> float:
        return ch.points * (1.0 / ch.ifbw + self.point_overhead) + self.sweep_overhead

    # ------------------------------------------------------------------ sweeps
    def _noise_std(self, ch: ChannelState) -> float:
        if not self.noise:
            return 0.0
        floor_dbm = BOLTZMANN_DBM_HZ + 10 * np.log10(ch.ifbw) + self.noise_figure_db
        return float(np.sqrt(10 ** ((floor_dbm - ch.power) / 10)))

    def _sweep(self, ch: ChannelState) -> None:
        """Measure every trace of ``ch`` now; the data is ready after the sweep time."""
        freqs = ch.frequencies()
        now = time.monotonic()
        t_point = 1.0 / ch.ifbw + self.point_overhead
        if ch.sweep_type == "CW" and ch.aux_trigger and ch.aux_interval == "POIN" and isinstance(self.dut, TriggeredDUT):
            s = self.dut.s_params_list(ch.cw, ch.points, now, t_point, before=ch.aux_position == "BEF")
        else:
            s = self.dut.s_params(np.unique(freqs) if ch.sweep_type == "CW" else freqs)
            if ch.sweep_type == "CW":
                s = np.repeat(s, ch.points, axis=0)
        sigma = self._noise_std(ch)
        ch.data = {}
        for name, param in ch.traces.items():
            i, j = int(param[1]) - 1, int(param[2]) - 1
            trace = s[:, i, j].copy()
            if sigma:
                trace += sigma / np.sqrt(2) * (self.rng.standard_normal(trace.shape)
                                               + 1j * self.rng.standard_normal(trace.shape))
            ch.data[name] = trace
        ch.busy_until = now + self.sweep_time(ch)
        self.sweeps += 1

    def _wait(self, ch: ChannelState | None = None) -> None:
        chans = [ch] if ch is not None else list(self.channels.values())
        until = max(c.busy_until for c in chans)
        delay = until - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _data(self, ch: ChannelState) -> np.ndarray:
        if ch.sweep_mode == "CONT" and time.monotonic() >= ch.busy_until:
            self._sweep(ch)  # free-running: every read sees a fresh sweep
        self._wait(ch)
        if not ch.selected or ch.selected not in ch.traces:
            raise ScpiError(*SETTINGS_CONFLICT, "no measurement selected")
        if ch.selected not in ch.data:
            self._sweep(ch)
            self._wait(ch)
        return ch.data[ch.selected]

    # ------------------------------------------------------------------ replies
    def _values(self, values: np.ndarray) -> bytes:
        values = np.asarray(values, float)
        if self.format.startswith("REAL"):
            bits = int(self.format.split(",")[1])
            dtype = np.dtype("<f8" if bits == 64 else "<f4")
            if self.byte_order == "NORM":
                dtype = dtype.newbyteorder(">")
            return block(values.astype(dtype).tobytes())
        return ",".join(fmt_real(v) for v in values).encode()

    @staticmethod
    def _complex(values: np.ndarray) -> np.ndarray:
        out = np.empty(2 * values.size)
        out[0::2], out[1::2] = values.real, values.imag
        return out

    # ------------------------------------------------------------------ parsing
    def execute(self, line: str) -> tuple[list[bytes], float]:
        """Run one program message; returns (replies, extra silence before replying)."""
        replies = []
        stall = 0.0
        with self.lock:
            for unit in split_message(line):
                header, _, rest = unit.partition(" ")
                header = header.strip()
                is_query = header.endswith("?")
                for rx, handler, query in self._commands:
                    if query != is_query:
                        continue
                    m = rx.match(header)
                    if m:
                        try:
                            out = handler(m.groups(), split_args(rest))
                        except ScpiError as e:
                            self.push_error((e.code, e.text))
                            out = None
                        except Exception as e:  # noqa: BLE001 - a bug must not kill the connection
                            self.push_error((-300, "Device-specific error"), f"{type(e).__name__}: {e}")
                            out = None
                        if query and out is not None:
                            if header.upper() == "*OPC?" and self.stall_next_opc:
                                stall, self.stall_next_opc = self.stall_next_opc, 0.0
                            replies.append(out if isinstance(out, bytes) else str(out).encode())
                        break
                else:
                    self.push_error(UNDEFINED_HEADER, header)
        return replies, stall

    def _command_table(self):
        t = []

        def add(spec, fn, query=False):
            t.append((pattern(spec, query), fn, query))

        def setting(spec, attr, parse, lo=None, hi=None, fmt=str, choices=None):
            def set_(g, a):
                if not a:
                    raise ScpiError(*MISSING_PARAMETER)
                try:
                    v = parse(a[0])
                except ValueError:
                    raise ScpiError(*DATA_TYPE, a[0]) from None
                if choices is not None and v not in choices:
                    raise ScpiError(*ILLEGAL_VALUE, a[0])
                if (lo is not None and v < lo()) or (hi is not None and v > hi()):
                    raise ScpiError(*OUT_OF_RANGE, f"{a[0]}")
                setattr(self.chan(g[0] if g else 1), attr, v)

            def get_(g, a):
                return fmt(getattr(self.chan(g[0] if g else 1), attr))

            add(spec, set_)
            add(spec, get_, query=True)

        lim = self.limits
        num = lambda s: float(s)  # noqa: E731
        add("*IDN", lambda g, a: self.idn, True)
        add("*RST", lambda g, a: self._reset())
        add("*CLS", lambda g, a: self.errors.clear())
        add("*OPC", lambda g, a: (self._wait(), "1")[1], True)
        add("*OPC", lambda g, a: None)
        add("*WAI", lambda g, a: self._wait())
        add("SYSTem:ERRor[:NEXT]", lambda g, a: self._pop_error(), True)
        add("SYSTem:ERRor:COUNt", lambda g, a: fmt_int(len(self.errors)), True)
        setting("SENSe<n>:FREQuency:STARt", "start", num, lambda: lim.f_min, lambda: lim.f_max, fmt_real)
        setting("SENSe<n>:FREQuency:STOP", "stop", num, lambda: lim.f_min, lambda: lim.f_max, fmt_real)
        setting("SENSe<n>:FREQuency:CW", "cw", num, lambda: lim.f_min, lambda: lim.f_max, fmt_real)
        setting("SENSe<n>:SWEep:POINts", "points", lambda s: int(float(s)), lambda: 1, lambda: lim.max_points, fmt_int)
        setting("SENSe<n>:BWIDth[:RESolution]", "ifbw", num, lambda: lim.ifbw_min, lambda: lim.ifbw_max, fmt_real)
        setting("SENSe<n>:BANDwidth[:RESolution]", "ifbw", num, lambda: lim.ifbw_min, lambda: lim.ifbw_max, fmt_real)
        setting("SOURce<n>:POWer[:LEVel][:IMMediate][:AMPLitude]", "power", num, lambda: lim.power_min,
                lambda: lim.power_max, fmt_real)
        setting("SENSe<n>:SWEep:TYPE", "sweep_type", lambda s: s.upper()[:4].replace("LINE", "LIN"), fmt=str,
                choices={"LIN", "CW", "LOG"})
        setting("SENSe<n>:AVERage:COUNt", "avg_count", lambda s: int(float(s)), lambda: 1, lambda: 65536, fmt_int)
        setting("SENSe<n>:AVERage:MODE", "avg_mode", lambda s: s.upper()[:4].replace("SWEE", "SWE"),
                choices={"POIN", "SWE"})
        add("SENSe<n>:AVERage[:STATe]", lambda g, a: "1" if self.chan(g[0]).averaging else "0", True)
        add("SENSe<n>:AVERage[:STATe]", lambda g, a: setattr(self.chan(g[0]), "averaging", a[0].upper() in ("1", "ON")))
        add("SENSe<n>:AVERage:CLEar", lambda g, a: None)
        add("SENSe<n>:FREQuency:SPAN", lambda g, a: fmt_real(self.chan(g[0]).stop - self.chan(g[0]).start), True)
        add("SENSe<n>:FREQuency:CENTer", lambda g, a: fmt_real((self.chan(g[0]).stop + self.chan(g[0]).start) / 2), True)
        add("SENSe<n>:FREQuency:DATA", lambda g, a: self._values(self.chan(g[0]).frequencies()), True)
        add("SENSe<n>:X[:VALues]", lambda g, a: self._values(self.chan(g[0]).frequencies()), True)
        add("SENSe<n>:SWEep:TIME", lambda g, a: fmt_real(self.sweep_time(self.chan(g[0]))), True)
        add("SENSe<n>:SWEep:MODE", self._set_sweep_mode)
        add("SENSe<n>:SWEep:MODE", lambda g, a: self.chan(g[0]).sweep_mode, True)
        add("SENSe<n>:SWEep:GROups:COUNt", lambda g, a: None)
        add("SENSe<n>:SWEep:GROups:COUNt", lambda g, a: "+1", True)
        add("TRIGger[:SEQuence]:SOURce", self._set_trigger_source)
        add("TRIGger[:SEQuence]:SOURce", lambda g, a: self.trigger_source, True)
        add("TRIGger:CHANnel<n>:AUXiliary<n>[:ENABle]", lambda g, a: setattr(self.chan(g[0]), "aux_trigger",
                                                                           a[0].upper() in ("1", "ON")))
        add("TRIGger:CHANnel<n>:AUXiliary<n>:INTerval", self._set_aux("aux_interval", {"POIN", "SWE"}))
        add("TRIGger:CHANnel<n>:AUXiliary<n>:POSition", self._set_aux("aux_position", {"BEF", "AFT"}))
        add("FORMat[:DATA]", self._set_format)
        add("FORMat[:DATA]", lambda g, a: self.format, True)
        add("FORMat:BORDer", self._set_border)
        add("FORMat:BORDer", lambda g, a: self.byte_order, True)
        add("CALCulate<n>:DATA", self._data_query, True)
        add("CALCulate<n>:DATA:SNP:PORTs", self._snp_query, True)
        add("CALCulate<n>:PARameter:SELect", self._select)
        add("CALCulate<n>:PARameter:SELect", lambda g, a: f'"{self.chan(g[0]).selected}"', True)
        add("CALCulate<n>:PARameter:DELete[:NAME]", self._delete)
        add("CALCulate<n>:PARameter:DELete:ALL", lambda g, a: self.chan(g[0]).traces.clear())
        add("CALCulate<n>:PARameter:MNUMber[:SELect]", lambda g, a: None)
        add("SYSTem:ACTive:CHANnel", lambda g, a: fmt_int(min(self.channels)), True)
        add("SYSTem:ACTive:MEASurement", lambda g, a: f'"{self.chan(1).selected}"', True)
        add("SYSTem:CHANnels:CATalog", lambda g, a: '"' + ",".join(str(c) for c in sorted(self.channels)) + '"', True)
        add("SYSTem:MEASurement:CATalog", lambda g, a: '"' + ",".join(
            str(i + 1) for i in range(len(self.chan(a[0] if a else 1).traces))) + '"', True)
        add("SYSTem:CAPability:HARDware:PORTs:COUNt", lambda g, a: fmt_int(lim.ports), True)
        add("DISPlay:WINDow<n>:CATalog", self._window_catalog, True)
        add("DISPlay:WINDow<n>:TRACe<n>:FEED", lambda g, a: None)
        add("DISPlay:WINDow<n>:STATe", lambda g, a: None)
        add("MMEMory:STORe:TRACe:FORMat:SNP", lambda g, a: setattr(self, "snp_format", a[0].upper()))
        add("MMEMory:STORe:TRACe:FORMat:SNP", lambda g, a: self.snp_format, True)
        if self.dialect == "keysight":
            add("CALCulate<n>:PARameter:EXTended", self._define)
            add("CALCulate<n>:PARameter:DEFine", self._define)
            add("CALCulate<n>:PARameter:CATalog[:EXTended]", self._catalog, True)
        else:
            add("CALCulate<n>:PARameter:SDEFine", self._define)
            add("CALCulate<n>:PARameter:CATalog", self._catalog, True)
            add("INITiate<n>[:IMMediate]", lambda g, a: self._sweep(self.chan(g[0])))
            add("INITiate<n>:CONTinuous", lambda g, a: setattr(
                self.chan(g[0]), "sweep_mode", "CONT" if a[0].upper() in ("1", "ON") else "HOLD"))
            add("INITiate<n>:CONTinuous", lambda g, a: "1" if self.chan(g[0]).sweep_mode == "CONT" else "0", True)
        return t

    @property
    def idn(self) -> str:
        if self.dialect == "keysight":
            return f"Keysight Technologies,N5227B,{self.serial},A.15.20.07"
        return f"Rohde-Schwarz,ZNA43-4Port,1332450044{self.serial[-6:]},2.70"

    def _pop_error(self) -> str:
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.pop(0)
        return f'{code:+d},"{text}"'

    def _set_sweep_mode(self, g, a):
        mode = a[0].upper()[:4] if a else ""
        mode = {"SING": "SING", "HOLD": "HOLD", "CONT": "CONT", "GRO": "GRO", "GROU": "GRO"}.get(mode)
        if mode is None:
            raise ScpiError(*ILLEGAL_VALUE, a[0] if a else "")
        ch = self.chan(g[0])
        if mode in ("SING", "GRO"):
            self._sweep(ch)
            ch.sweep_mode = "HOLD"  # a single sweep leaves the channel in hold
        else:
            ch.sweep_mode = mode

    def _set_trigger_source(self, g, a):
        src = a[0].upper()[:3] if a else ""
        if src not in ("IMM", "EXT", "MAN"):
            raise ScpiError(*ILLEGAL_VALUE, a[0] if a else "")
        self.trigger_source = src

    def _set_aux(self, attr, choices):
        def fn(g, a):
            v = a[0].upper()[:4].replace("POINT", "POIN") if a else ""
            v = v[:3] if v[:3] in ("BEF", "AFT", "SWE") else v
            if v not in choices:
                raise ScpiError(*ILLEGAL_VALUE, a[0] if a else "")
            setattr(self.chan(g[0]), attr, v)
        return fn

    def _set_format(self, g, a):
        spec = ",".join(x.upper() for x in a)
        spec = {"ASC": "ASC,0", "ASCII": "ASC,0", "ASC,0": "ASC,0", "ASCII,0": "ASC,0", "REAL,64": "REAL,64",
                "REAL,32": "REAL,32"}.get(spec)
        if spec is None:
            raise ScpiError(*ILLEGAL_VALUE, ",".join(a))
        self.format = spec

    def _set_border(self, g, a):
        v = a[0].upper()[:4] if a else ""
        if v not in ("NORM", "SWAP"):
            raise ScpiError(*ILLEGAL_VALUE, a[0] if a else "")
        self.byte_order = v

    def _define(self, g, a):
        if len(a) < 2:
            raise ScpiError(*MISSING_PARAMETER)
        name, param = unquote(a[0]), unquote(a[1]).upper()
        ok = len(param) == 3 and param[0] == "S" and param[1:].isdigit() and all(
            1 <= int(c) <= self.limits.ports for c in param[1:])
        if not ok:
            raise ScpiError(*ILLEGAL_VALUE, param)
        self.chan(g[0]).traces[name] = param

    def _select(self, g, a):
        if not a:
            raise ScpiError(*MISSING_PARAMETER)
        name = unquote(a[0])
        ch = self.chan(g[0])
        if name not in ch.traces:
            raise ScpiError(*ILLEGAL_VALUE, f"no measurement {name!r}")
        ch.selected = name

    def _delete(self, g, a):
        ch = self.chan(g[0])
        name = unquote(a[0]) if a else ""
        if name not in ch.traces:
            raise ScpiError(*ILLEGAL_VALUE, f"no measurement {name!r}")
        del ch.traces[name]
        ch.data.pop(name, None)
        if ch.selected == name:
            ch.selected = ""

    def _catalog(self, g, a):
        items = self.chan(g[0]).traces.items()
        if not items:
            return '"NO CATALOG"' if self.dialect == "keysight" else "''"
        body = ",".join(f"{n},{p}" for n, p in items)
        return f'"{body}"' if self.dialect == "keysight" else f"'{body}'"

    def _window_catalog(self, g, a):
        n = len(self.chan(1).traces)
        return '"' + (",".join(str(i + 1) for i in range(n)) if n else "EMPTY") + '"'

    def _data_query(self, g, a):
        kind = a[0].upper() if a else ""
        if kind not in ("SDATA", "SDAT", "FDATA", "FDAT"):
            raise ScpiError(*ILLEGAL_VALUE, kind)
        data = self._data(self.chan(g[0]))
        if kind.startswith("F"):
            return self._values(20 * np.log10(np.abs(data) + 1e-300))
        return self._values(self._complex(data))

    def _snp_query(self, g, a):
        ch = self.chan(g[0])
        ports = [int(p) for p in unquote(a[0]).split(",")] if a else [1, 2]
        self._wait(ch)
        freqs = ch.frequencies()
        s = self.dut.s_params(freqs)
        sigma = self._noise_std(ch)
        rows = [freqs]
        for i in ports:
            for j in ports:
                v = s[:, i - 1, j - 1]
                if sigma:
                    v = v + sigma / np.sqrt(2) * (self.rng.standard_normal(v.shape) + 1j * self.rng.standard_normal(v.shape))
                rows += [v.real, v.imag]
        return self._values(np.concatenate(rows))
