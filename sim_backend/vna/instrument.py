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

The channels and traces are :mod:`.traces`; the data output, the helpers the command trees are
declared with, the IEEE 488.2 common commands and the shared handlers are :mod:`.commands`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

import numpy as np

from sim_backend.scpi import E, ScpiError, Tree
from sim_backend.vna import presets
from sim_backend.vna.commands import CommandHelpers
from sim_backend.vna.errors import raw_errors, residual_errors
from sim_backend.vna.session import Session
from sim_backend.vna.state import Channel, TraceDef, formatted, windowed_mean
from sim_backend.vna.status import StatusModel
from sim_backend.vna.traces import TraceTable
from sim_backend.vna.trigger import TriggerLine
from simhw.values.vna_models import DEFAULT_MODEL, VNAModel, model_named

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


class SimVNA(TraceTable, CommandHelpers):
    """One instrument: state, command tree and sweep model. Thread-safe (one lock)."""

    family = "keysight"
    point_overhead = 10e-6
    sweep_overhead = 1e-3
    error_plus_sign = True
    frequency_resolution = 1.0  # Hz: frequency settings are rounded to it, as the instruments do
    exponent_digits = 2  # of the NR3 numbers the family answers (+1.00000000000E+09)
    external_wait = 30.0  # s: a read waits this long for external trigger events, then gives up

    def __init__(
        self,
        dut,
        model: str | VNAModel | None = None,
        noise: bool = True,
        noise_figure_db: float = 10.0,
        seed: int | None = None,
        serial: str = "SIM000001",
        cal_sets: tuple[str, ...] = ("simhw",),
        raw_error: float = 0.0,
        residuals: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ):
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

    def session(self, buffered: bool = False) -> Session:
        return Session(self, buffered)

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
                trace += (
                    sigma
                    / np.sqrt(2)
                    * (self.rng.standard_normal(trace.shape) + 1j * self.rng.standard_normal(trace.shape))
                )
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
                    self._measured(
                        ch, self._point_response(ch, [st for _, st in taken]), ch.frequencies(), taken[-1][0] + t_point
                    )
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
