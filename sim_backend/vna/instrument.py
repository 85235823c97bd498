"""The simulated VNA's core: IEEE 488.2 common commands, the status model, sweeps, traces and data.

Each family (:mod:`.pna`, :mod:`.ena`, :mod:`.rs`) adds its own command tree and preset state on
this core; the model (``simhw.values.vna_models``) gives identity, options and ranges, so ``*IDN?``,
``*OPT?``, the MIN/MAX queries and the refusals agree.

Traces come from a device under test (``dut``) with ``s_params(frequencies) -> (F, n, n)`` at
the moment of the sweep, plus receiver noise whose power is kT * IFBW * noise figure relative to
the source power (divided by the average count when averaging is on). With correction off and
``raw_error`` above zero, the instrument's own raw errors (directivity and tracking per port)
are on the data; a cal set turned on removes them. With the trigger output pulsing per point in
a CW sweep, the instrument pulses ``dut`` after (or before) each point, so a board sequencer can
step one stored configuration per point (the triggered list measurement).

The other direction: with the trigger source EXTernal a sweep is armed and waits for pulses on
``trigger_in`` (a :class:`~sim_backend.vna.trigger.TriggerLine`, e.g. the simulated board's
trigger output): one pulse starts the whole sweep, or, with a trigger per point (PNA
``SENS:SWE:TRIG:POIN``, ENA ``TRIG:POIN``, R&S ``TRIG:LINK 'POINt'``), each pulse measures the next
point, with the device in the state the sender latched with that pulse.

The preset state (``*RST``, ``SYST:PRES``) is the table of :mod:`.presets`, which the instrument
applies to itself through its own command tree. The data path follows the manuals: SDATA is the
corrected data (R&S: with its port offsets); the electrical delay (PNA, ENA), the format and then
the smoothing (each family's window, :meth:`SimVNA.smoothing_window`) make FDATA.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

import numpy as np

from simhw.values.vna_models import DEFAULT_MODEL, VNAModel, model_named
from sim_backend.scpi import E, Boolean, Choice, Number, ScpiError, Tree, block, fmt_int, fmt_real, text
from sim_backend.vna import presets
from sim_backend.vna.errors import raw_errors, residual_errors
from sim_backend.vna.session import Session
from sim_backend.vna.state import FORMATS, Channel, TraceDef, formatted, windowed_mean
from sim_backend.vna.status import StatusModel
from sim_backend.vna.trigger import TriggerLine

__all__ = ["SimVNA", "TriggeredDUT", "StatefulDUT", "Session"]

BOLTZMANN_DBM_HZ = -174.0


@runtime_checkable
class TriggeredDUT(Protocol):
    """A device whose state steps on the VNA's per-point trigger out (the simulated SIM and its board)."""

    def s_params_list(self, frequency: float, points: int, t0: float, t_point: float, before: bool = False): ...


@runtime_checkable
class StatefulDUT(Protocol):
    """A device whose state a trigger line carries (the codes a board latched with its trigger pulse):
    ``s_params_states(frequencies, states)`` is the response at point k in state k, (points, n, n)."""

    def s_params_states(self, frequencies, states): ...


_STIMULUS = {"start", "stop", "points", "cw", "sweep_type"}


def _onoff(v: bool) -> str:
    return "1" if v else "0"


class SimVNA:
    """One instrument: state, command tree and sweep model. Thread-safe (one lock)."""

    family = "keysight"
    point_overhead = 10e-6
    sweep_overhead = 1e-3
    error_plus_sign = True
    frequency_resolution = 1.0  # Hz: frequency settings are rounded to it, as the instruments do
    exponent_digits = 2  # of the NR3 numbers the family answers (+1.00000000000E+09)
    external_wait = 30.0  # s: a read waits this long for external trigger events, then gives up

    def __init__(self, dut, model: str | VNAModel | None = None, noise: bool = True, noise_figure_db: float = 10.0,
                 seed: int | None = None, serial: str = "SIM000001", cal_sets: tuple[str, ...] = ("simhw",),
                 raw_error: float = 0.0, residuals: tuple[float, float, float] = (0.0, 0.0, 0.0)):
        """``residuals``: what the bench's calibration left, (|directivity|, |source and load match|,
        tracking in dB), applied to every trace (:meth:`_residual_errors`); ``raw_error``: the
        uncorrected errors on top, while no cal set is on."""
        self.model = model if isinstance(model, VNAModel) else model_named(model or DEFAULT_MODEL[self.family])
        if self.model.family != self.family:
            raise ValueError(f"{self.model.name} is a {self.model.family} instrument, not {self.family}")
        self.limits = self.model.limits
        self.dut = dut
        self.noise = noise
        self.noise_figure_db = noise_figure_db
        self.rng = np.random.default_rng(seed)
        self.serial = serial
        self._residual_seed = 0 if seed is None else int(seed)
        self.cal_sets = tuple(cal_sets)
        self.raw_error = raw_error
        self.residuals = tuple(residuals)
        self.lock = threading.RLock()
        self._idle = threading.Condition(self.lock)  # waits for a sweep release the lock to other sessions
        self.trigger_in: TriggerLine | None = None  # the rear-panel trigger input, when something is wired to it
        self.status = StatusModel(self.error_plus_sign)
        self.sweeps = 0
        self.stall_next_opc = 0.0  # fault: the next *OPC? stays silent this long
        self.drop_next = False  # fault: the next command closes the connection
        self._stall = 0.0
        # instrument-wide settings, before the preset table sets them (a KEEP row keeps what is here)
        self.trigger_source, self.trigger_scope = "IMM", "ALL"
        self.data_format, self.byte_order = "ASC", "NORM"
        self._channel_kind = "rst"
        self.tree = Tree()
        self._common_commands(self.tree)
        self.build(self.tree)
        self.trace_defaults = {"smooth_aperture": float(presets.value("smoothing aperture, %", self.model))}
        self.preset("rst")

    # ------------------------------------------------------------------ family hooks
    def build(self, t: Tree) -> None:
        raise NotImplementedError

    def build_preset(self) -> None:
        """The family's default channel, trace and window (the table's settings come after)."""
        raise NotImplementedError

    def preset(self, kind: str = "rst") -> None:
        """The preset state after ``*RST`` (``kind`` ``rst``) or ``SYSTem:PRESet`` (``pres``): the family's
        default channel and trace, then every row of the preset table (:mod:`.presets`)."""
        self.channels: dict[int, Channel] = {}
        self.measurements: dict[str, TraceDef] = {}
        self.selected: dict[int, str] = {}  # channel -> selected measurement
        self.windows: dict[int, dict[int, str]] = {}  # window -> trace number -> measurement name
        self.active_channel = 1
        self.snp_format = "RI"
        self.rf_on = True
        self._channel_kind = kind  # the channels the preset builds get the channel rows of its kind
        try:
            self.build_preset()
        finally:
            self._channel_kind = "rst"  # a channel made later: the *RST values
        presets.apply(self, kind, ("instrument", "trace"))

    def new_channel(self, n: int) -> Channel:
        """A channel before the preset table's channel rows (which :meth:`chan` applies next)."""
        lim = self.limits
        return Channel(n, lim.f_min, lim.f_max, 201, lim.ifbw_max, 0.0, name=f"Ch{n}", cw=lim.f_min)

    def aux_per_point(self, ch: Channel) -> tuple[bool, bool]:
        """(trigger output pulses per point, pulse before the point) for ``ch``'s next sweep."""
        return ch.aux_enabled and ch.aux_interval == "POIN", ch.aux_position == "BEF"

    def free_running(self, ch: Channel) -> bool:
        return ch.mode == "CONT" and self.trigger_source in ("IMM", "INT")

    def point_triggered(self, ch: Channel) -> bool:
        """Whether a trigger event measures one point of ``ch`` (else one event runs the whole sweep)."""
        return ch.point_trigger

    # ------------------------------------------------------------------ execution
    def execute(self, message: str) -> tuple[bytes | None, float]:
        """Run one program message; returns (the response message or None, extra silence before it)."""
        with self.lock:
            self._stall = 0.0
            replies = self.tree.run(message, self._error)
            stall = self._stall
        return (b";".join(replies) if replies else None), stall

    def _error(self, e: ScpiError) -> None:
        self.status.push(e.code, e.text)

    def push_error(self, err: tuple[int, str], detail: str = "") -> None:
        self.status.push(err[0], err[1] + (f"; {detail}" if detail else ""))

    @property
    def errors(self) -> list[tuple[int, str]]:
        return self.status.errors

    def session(self, buffered: bool = False) -> "Session":
        return Session(self, buffered)

    # ------------------------------------------------------------------ channels and measurements
    def chan(self, n: int | None, create: bool = True) -> Channel:
        n = 1 if n is None else int(n)
        ch = self.channels.get(n)
        if ch is None:
            if not create or not 1 <= n <= 200:
                raise ScpiError(E.HEADER_SUFFIX if n > 200 or n < 1 else E.SETTINGS_CONFLICT, f"channel {n}")
            ch = self.channels[n] = self.new_channel(n)
            presets.apply(self, self._channel_kind, ("channel",), n)
        return ch

    def check_param(self, param: str) -> str:
        p = param.strip().strip("'\"").upper()
        ok = len(p) == 3 and p[0] == "S" and p[1:].isdigit() and all(1 <= int(c) <= self.limits.ports for c in p[1:])
        if not ok:
            raise ScpiError(E.ILLEGAL_VALUE, f"{param} (a {self.limits.ports}-port instrument)")
        return p

    def define(self, ch: int, name: str, param: str, number: int | None = None) -> TraceDef:
        if not name:
            raise ScpiError(E.ILLEGAL_VALUE, "empty measurement name")
        if name in self.measurements:
            raise ScpiError(E.ILLEGAL_VALUE, f"measurement {name!r} exists")
        param = self.check_param(param)
        self.chan(ch)
        if number is None:
            number = max((m.number for m in self.measurements.values()), default=0) + 1
        m = self.measurements[name] = TraceDef(name, param, int(ch), number, **self.trace_defaults)
        self.selected.setdefault(int(ch), name)
        return m

    def delete(self, name: str) -> None:
        m = self.measurements.pop(name, None)
        if m is None:
            raise ScpiError(E.ILLEGAL_VALUE, f"no measurement {name!r}")
        self.chan(m.channel).data.pop(name, None)
        if self.selected.get(m.channel) == name:
            rest = [x.name for x in self.measurements.values() if x.channel == m.channel]
            if rest:
                self.selected[m.channel] = rest[0]
            else:
                self.selected.pop(m.channel, None)
        for traces in self.windows.values():
            for k in [k for k, v in traces.items() if v == name]:
                del traces[k]

    def in_channel(self, ch: int) -> list[TraceDef]:
        return [m for m in self.measurements.values() if m.channel == ch]

    def measurement(self, name: str, ch: int | None = None) -> TraceDef:
        m = self.measurements.get(name)
        if m is None or (ch is not None and m.channel != ch):
            raise ScpiError(E.ILLEGAL_VALUE, f"no measurement {name!r}" + (f" in channel {ch}" if ch else ""))
        return m

    def selected_measurement(self, ch: int) -> TraceDef:
        name = self.selected.get(ch)
        if not name or name not in self.measurements:
            raise ScpiError(E.SETTINGS_CONFLICT, f"no measurement selected in channel {ch}")
        return self.measurements[name]

    def feed(self, window: int, trace: int, name: str) -> None:
        self.measurement(name)
        if window not in self.windows:
            self.windows[window] = {}
        self.windows[window][trace] = name

    # ------------------------------------------------------------------ sweeps
    def sweep_time(self, ch: Channel) -> float:
        """One sweep of ``ch`` (what ``SENS:SWE:TIME?`` reports)."""
        t = ch.n_points * (1.0 / ch.ifbw + self.point_overhead) + self.sweep_overhead
        return max(t, ch.sweep_time_set)

    def sweeps_per_trigger(self, ch: Channel) -> int:
        """How many sweeps one trigger runs (a group; the family's sweep count or average trigger)."""
        return max(1, ch.groups) if ch.mode == "GRO" else 1

    def _noise_std(self, ch: Channel) -> float:
        if not self.noise:
            return 0.0
        floor_dbm = BOLTZMANN_DBM_HZ + 10 * np.log10(ch.ifbw) + self.noise_figure_db
        sigma = float(np.sqrt(10 ** ((floor_dbm - ch.power) / 10)))
        return sigma / np.sqrt(max(1, ch.avg_count)) if ch.averaging else sigma

    def start_sweep(self, ch: Channel, at: float | None = None) -> None:
        """Measure every trace of ``ch`` from ``at`` (now); the data is ready after the sweep time."""
        freqs = ch.frequencies()
        now = time.monotonic() if at is None else at
        per_point, before = self.aux_per_point(ch)
        if freqs.size == 0:
            raise ScpiError(E.SETTINGS_CONFLICT, "no points to sweep (empty segment table)")
        if ch.sweep_type == "CW" and per_point and isinstance(self.dut, TriggeredDUT):
            t_point = self.point_time(ch)
            s = self.dut.s_params_list(ch.cw, ch.n_points, now, t_point, before=before)
        else:
            uniq, inverse = np.unique(freqs, return_inverse=True)
            s = self.dut.s_params(uniq)[inverse]
        self._measured(ch, s, freqs, now + self.sweep_time(ch) * self.sweeps_per_trigger(ch))

    def point_time(self, ch: Channel) -> float:
        return 1.0 / ch.ifbw + self.point_overhead

    def _measured(self, ch: Channel, s: np.ndarray, freqs: np.ndarray, done_at: float) -> None:
        """The instrument's own errors and noise on the device's (points, n, n) response; every trace of
        ``ch`` from it, ready at ``done_at``."""
        if any(self.residuals):
            s = residual_errors(s, freqs, self.residuals, self._residual_seed)
        if not (ch.correction and ch.cal_set) and self.raw_error:
            s = raw_errors(s, freqs, self.raw_error)
        sigma = self._noise_std(ch)
        ch.data = {}
        for m in self.in_channel(ch.number):
            i, j = int(m.param[1]) - 1, int(m.param[2]) - 1
            trace = s[:, i, j].copy()
            if sigma:
                trace += sigma / np.sqrt(2) * (self.rng.standard_normal(trace.shape)
                                               + 1j * self.rng.standard_normal(trace.shape))
            ch.data[m.name] = trace
        ch.busy_until = done_at
        ch.swept = True
        self.sweeps += 1

    def trigger_sweep(self, ch: Channel) -> None:
        """A sweep as the trigger source has it: at once, or (EXTernal) armed for trigger events on
        ``trigger_in``: one event starts the sweep, or one event per point (:meth:`point_triggered`)."""
        if self.trigger_source == "EXT":
            ch.armed_at, ch.armed_per_point = time.monotonic(), self.point_triggered(ch)
            self.collect_triggers()
        else:
            self.start_sweep(ch)

    def collect_triggers(self) -> None:
        """Take the trigger events that reached the armed channels; a channel whose sweep has all it
        needs is measured (point k in the state the sender latched with event k)."""
        if self.trigger_in is None:
            return
        for ch in self.channels.values():
            if ch.armed_at is None:
                continue
            pulses = self.trigger_in.since(ch.armed_at)
            if not ch.armed_per_point:
                if pulses:
                    ch.armed_at = None
                    self.start_sweep(ch, at=pulses[0][0])
                continue
            t_point, taken = self.point_time(ch), []
            for t, state in pulses:
                if not taken or t >= taken[-1][0] + t_point:  # an event during a point's measurement is ignored
                    taken.append((t, state))
                if len(taken) == ch.n_points:
                    ch.armed_at = None
                    self._measured(ch, self._point_response(ch, [st for _, st in taken]), ch.frequencies(),
                                   taken[-1][0] + t_point)
                    break

    def _point_response(self, ch: Channel, states: list) -> np.ndarray:
        freqs = ch.frequencies()
        if all(st is not None for st in states) and isinstance(self.dut, StatefulDUT):
            return self.dut.s_params_states(freqs, states)
        return np.stack([self.dut.s_params([f])[0] for f in freqs])  # the device as it is now

    def single(self, ch: Channel) -> None:
        """A single sweep (or group) that leaves the channel in hold."""
        self.start_sweep(ch)
        ch.mode = "HOLD"

    def triggered_channels(self) -> list[Channel]:
        if self.trigger_scope in ("ACT", "CURR", "SING"):
            return [self.chan(self.active_channel)]
        return [self.channels[k] for k in sorted(self.channels)]

    def sweeping(self, ch: Channel) -> bool:
        return ch.armed_at is not None or time.monotonic() < ch.busy_until

    def sweeps_done(self) -> bool:
        """No sweep running or armed (what *OPC waits for)."""
        self.collect_triggers()
        return not any(self.sweeping(c) for c in self.channels.values())

    def wait(self, ch: Channel | None = None) -> None:
        """Until the sweep of ``ch`` (of every channel) is over; the lock is released meanwhile. An armed
        sweep whose trigger events do not come is given up after :attr:`external_wait`."""
        give_up = time.monotonic() + self.external_wait
        with self.lock:
            while True:
                self.collect_triggers()
                chans = [ch] if ch is not None else list(self.channels.values())
                armed = any(c.armed_at is not None for c in chans)
                now = time.monotonic()
                left = max((c.busy_until for c in chans), default=0.0) - now
                if (not armed and left <= 0) or (armed and now >= give_up):
                    return
                self._idle.wait(0.002 if armed else left)

    def abort(self) -> None:
        """ABORt (and a server shutting down): armed sweeps stop waiting."""
        with self.lock:
            for c in self.channels.values():
                c.armed_at = None

    def trace(self, m: TraceDef) -> np.ndarray:
        """The complex trace of ``m``'s last sweep, as measured (before the family's SDATA processing)."""
        ch = self.chan(m.channel)
        if ch.armed_at is None and self.free_running(ch) and time.monotonic() >= ch.busy_until:
            self.start_sweep(ch)  # free-running: every read sees a fresh sweep
        self.wait(ch)
        if m.name not in ch.data:
            self.start_sweep(ch)
            self.wait(ch)
        return ch.data[m.name]

    def sdata(self, m: TraceDef) -> np.ndarray:
        """The unformatted (corrected) data of ``m``: what SDATA returns."""
        return self.trace(m)

    def phase_corrected(self, m: TraceDef, data: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Keysight's phase correction block, after SDATA and before the formatter: the electrical
        delay of ``m`` removed (a positive delay compensates a delay line: + 2 pi f tau)."""
        return data * np.exp(2j * np.pi * freqs * m.edelay) if m.edelay else data

    def smoothing_window(self, m: TraceDef, freqs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(first, last) point averaged for each of the ``n`` points (0-based; clipped at the ends), or None
        where the family does not smooth ``m``'s format: each family's manual's rule."""
        raise NotImplementedError

    def fdata(self, m: TraceDef) -> np.ndarray:
        """The formatted data of ``m`` (FDATA): phase corrected, formatted, smoothed."""
        freqs = self.chan(m.channel).frequencies()
        data = self.phase_corrected(m, self.sdata(m), freqs)
        out = formatted(data, m.fmt, freqs)
        window = self.smoothing_window(m, freqs, out.shape[0]) if m.smoothing and out.shape[0] > 1 else None
        return windowed_mean(out, *window) if window is not None else out

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
    def setting(self, t: Tree, spec: str, attr: str, param, fmt=None, after=None, chan_index: int = 0,
                target=None) -> None:
        """A setting with its query, of the channel ``spec``'s suffix ``chan_index`` names (or of
        ``target(suffixes)``: a trace); a numeric setting's query answers MIN, MAX and DEF too."""
        fmt = fmt or (self.real if isinstance(param, Number) and not param.integer else
                      self.integer if isinstance(param, Number) else _onoff if param is Boolean else str)
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
        return Number(lambda: lim.f_min, lambda: lim.f_max, (lambda: default) if default else None, "HZ",
                      step=self.frequency_resolution)

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
        t.add(f"{sense}:FREQuency:CENTer", lambda s, a: self.real(
            self.hz().query(a) if a else self.chan(s[0]).center), query=True)
        t.add(f"{sense}:FREQuency:SPAN", set_span)
        t.add(f"{sense}:FREQuency:SPAN", lambda s, a: self.real(
            span.query(a) if a else self.chan(s[0]).span), query=True)
        self.setting(t, f"{sense}:SWEep:POINts", "points",
                     Number(lambda: 1, lambda: lim.max_points, lambda: 201, integer=True))
        ifbw = Number(lambda: lim.ifbw_min, lambda: lim.ifbw_max, lambda: min(m.preset_ifbw, lim.ifbw_max), "HZ")
        for spec in ifbw_specs:
            self.setting(t, spec, "ifbw", ifbw)
        power = Number(lambda: lim.power_min, lambda: lim.power_max, lambda: m.preset_power, "DBM")
        self.setting(t, "SOURce<n>:POWer<n>[:LEVel][:IMMediate][:AMPLitude]", "power", power)
        sweep_time = Number(lambda: 0.0, lambda: 86400.0, lambda: 0.0, "S")
        t.add(f"{sense}:SWEep:TIME", lambda s, a: setattr(self.chan(s[0]), "sweep_time_set", sweep_time.parse(a[0])))
        t.add(f"{sense}:SWEep:TIME", lambda s, a: self.real(self.sweep_time(self.chan(s[0]))), query=True)
        t.add(f"{sense}:SWEep:TIME:AUTO", lambda s, a: setattr(self.chan(s[0]), "sweep_time_set", 0.0)
              if Boolean.parse(a[0]) else None)
        t.add(f"{sense}:SWEep:TIME:AUTO", lambda s, a: _onoff(self.chan(s[0]).sweep_time_set == 0.0), query=True)
        self.setting(t, f"{sense}:AVERage[:STATe]", "averaging", Boolean)
        self.setting(t, f"{sense}:AVERage:COUNt", "avg_count",
                     Number(lambda: 1, lambda: 65536 if self.family != "rs" else 1000000, lambda: 10, integer=True))
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
        t.add("*SRE", lambda s, a: setattr(st, "sre", int(Number(lambda: 0, lambda: 255, integer=True).parse(a[0]))
                                           & ~(1 << 6)))
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
