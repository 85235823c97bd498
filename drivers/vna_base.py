"""The state policy the SCPI families share (:class:`SCPIVNA`; its session in :mod:`drivers.vna_session`,
the interface :class:`~drivers.vna_interface.VNA` it implements in :mod:`drivers.vna_interface`).

State policy (what simhw does to an instrument; docs/guide.md repeats it per family):

- ``preset=True`` presets the instrument when simhw opens it; otherwise nothing is reset.
- simhw's traces are its own: created as ``simhw_CH<ch>_<param>`` (appended after the operator's
  on ENA, whose traces are numbered), replaced only by simhw, deleted when simhw closes. The
  operator's traces, windows and channels are left as they were.
- A cal set named in the bench file (``cal_set``) is turned on in simhw's channel; the correction
  state (on/off and the cal set's name) is read back and recorded with every measurement.
- ``averaging = N`` averages N sweeps per measurement; 0 turns averaging off.
- simhw depends on no default of the instrument: it sets every setting its sweeps and reads rely on
  (byte order and data format at open; sweep type, stimulus, averaging, and each family's trigger
  settings and, on R&S, the port offsets of the measured ports, at each configuration; the trigger
  source at each sweep), and checks the stimulus values it reads back are in the instrument's range
  (a byte order the instrument names the other way round would show there).
- The frequencies of every measurement are read back from the instrument, not computed.
- ``list_sweep`` restores every setting it changed (sweep type, CW frequency, points, IF bandwidth,
  trigger output) and simhw's traces as they were.

Limits come from the instrument (MIN/MAX queries, port count, ``*OPT?``) and are checked against
the model table (:mod:`simhw.values.vna_models`): a model that is not the bench file's, or a family
that is not the driver's, is refused. One lock per instrument serialises whole transactions; a
timeout or a dropped connection closes the session and the next call opens a fresh one.
"""

from __future__ import annotations

import abc
import threading
from typing import ClassVar

import numpy as np

from drivers.vna_interface import VNA, VNAError, VNATimeout
from drivers.vna_session import SCPISession, unquote
from drivers.vna_settings import Setting
from simhw.values.vna_limits import VNALimits
from simhw.values.vna_models import DEFAULT_MODEL, VNAModel, has_trigger_outputs, model_named

__all__ = ["VNA", "VNAError", "VNATimeout", "SCPIVNA", "SIMHW_PREFIX"]

SIMHW_PREFIX = "simhw_"


class SCPIVNA(SCPISession, VNA):
    """Shared plumbing of the SCPI families. Subclasses declare their settings and ``SCPI`` commands."""

    SCPI: ClassVar[dict[str, str]] = {}
    family = "scpi"
    #: settings a list sweep changes and restores
    LIST_STATE: tuple[str, ...] = ("sweep_type", "cw", "points", "ifbw", "aux_enable", "aux_interval", "aux_position")
    # the settings these methods use, each declared by the families (drivers.vna)
    sweep_type: Setting
    start: Setting
    stop: Setting
    cw: Setting
    points: Setting
    ifbw: Setting
    power: Setting

    def __init__(
        self,
        resource,
        channel: int = 1,
        backend: str = "@py",
        binary: bool = True,
        timeout_s: float = 5.0,
        limits: VNALimits | None = None,
        model: str = "",
        preset: bool = False,
        cal_set: str = "",
        averaging: int = 0,
    ):
        """``resource``: a VISA resource string (opened with pyvisa's ``backend``), or an open
        pyvisa-style resource object to talk through (a test's scripted instrument). Nothing is
        opened here: :meth:`open`, the ``with`` block or the first query does it."""
        self._given = None if isinstance(resource, str) else resource
        self.resource_name = resource if isinstance(resource, str) else getattr(resource, "resource_name", "resource")
        self.channel = channel
        self.backend = backend or "@py"
        self.binary = binary
        self.base_timeout = timeout_s
        self._fixed_limits = limits
        self.expected_model = model
        self.preset_on_open = preset
        self.cal_set = cal_set
        self.averaging_sweeps = int(averaging)
        try:
            self.spec: VNAModel = model_named(model or DEFAULT_MODEL[self.family])
        except KeyError as exc:
            raise ValueError(str(exc).strip("'\"")) from None
        self.limits = limits or self.spec.limits
        self.model = self.family
        self.options: tuple[str, ...] = ()
        self.correction_state: dict = {"correction": None, "cal_set": ""}
        self.lock = threading.RLock()
        self._rm = None
        self._res = None
        self._values: dict = {}
        self._params: tuple[str, ...] = ()
        self._freqs = np.array([])
        self._opened_once = False

    # ------------------------------------------------------------------ settings
    def _fmt(self, key: str, **kw) -> str:
        return self.SCPI[key].format(ch=self.channel, **kw)

    def _write_setting(self, setting: Setting, value):
        v = setting.check(self, value)
        self.write(setting.command(self, v))
        return v

    def ask(self, name: str):
        """Query setting ``name`` from the instrument (not the value this driver last set)."""
        s: Setting = getattr(type(self), name)
        return s.validator.parse(self.query(s.query.format(ch=self.channel)))

    def restore(self, snapshot: dict) -> None:
        """Write back the settings of ``snapshot`` (from :meth:`ask`), in order."""
        for name, v in snapshot.items():
            s: Setting = getattr(type(self), name)
            self.write(s.command(self, v))
            self._values[name] = v

    def _reapply(self) -> None:
        """After a reconnect, put back what this driver had set."""
        for name in ("sweep_type", "start", "stop", "points", "ifbw", "power"):
            v = self._values.get(name)
            if v is not None:
                self.write(getattr(type(self), name).command(self, v))
        if self._params:
            self._set_averaging(self.averaging_sweeps)
            self._settings_relied_on(self._params)
            self._define_traces(self._params)

    def check_params(self, params) -> tuple[str, ...]:
        out = []
        for p in params:
            p = p.upper()
            if not (
                len(p) == 3 and p[0] == "S" and p[1:].isdigit() and all(1 <= int(c) <= self.limits.ports for c in p[1:])
            ):
                raise ValueError(f"{p!r} is not an S-parameter of a {self.limits.ports}-port instrument")
            out.append(p)
        return tuple(out)

    def configure(
        self,
        start: float,
        stop: float,
        points: int,
        ifbw: float | None = None,
        power: float | None = None,
        params: tuple[str, ...] = ("S21",),
    ) -> None:
        if stop < start:
            raise ValueError(f"stop ({stop}) must not be below start ({start})")
        cls = type(self)
        if self._res is None and self._given is None:
            self._ensure()
        params = self.check_params(params)
        for name, v in (("start", start), ("stop", stop), ("points", points), ("ifbw", ifbw), ("power", power)):
            if v is not None:
                getattr(cls, name).check(self, v)  # everything is validated before the first write
        with self.lock:
            self.sweep_type = "LIN"
            self.start, self.stop, self.points = start, stop, points
            if ifbw is not None:
                self.ifbw = ifbw
            if power is not None:
                self.power = power
            self._set_averaging(self.averaging_sweeps)  # 0: off, whatever the instrument had
            self._settings_relied_on(params)
            if self.cal_set:
                self.write(self._fmt("cal_set", name=self.cal_set))
            self._define_traces(params)
            self.check_errors("the configuration")
            self._read_back()

    def _read_back(self) -> None:
        """The stimulus values and the correction state, as the instrument has them."""
        self._freqs = np.asarray(self.query_values(self._fmt("stimulus_q")), float)
        if self._freqs.size != self._values.get("points", self._freqs.size):
            raise VNAError(
                f"{self.model} reports {self._freqs.size} stimulus values for {self._values['points']} points"
            )
        lim = self.limits
        if not np.all((self._freqs >= lim.f_min * (1 - 1e-9)) & (self._freqs <= lim.f_max * (1 + 1e-9))):
            raise VNAError(
                f"{self.model} reports stimulus values outside its range ({self._freqs[:3]}...): "
                "binary data decoded in the wrong byte order?"
            )
        corr = self.query(self._fmt("correction_q")).strip().lstrip("+").upper() in ("1", "ON")
        name = unquote(self.query(self._fmt("cal_set_q"))) if corr else ""
        self.correction_state = {"correction": corr, "cal_set": name}

    def measurement_settings(self) -> dict:
        """What a measurement records about the instrument's state."""
        return {
            "ifbw": self._values.get("ifbw"),
            "power": self._values.get("power"),
            "vna_model": self.model,
            "channel": self.channel,
            "averaging": self.averaging_sweeps,
            **self.correction_state,
        }

    def frequencies(self) -> np.ndarray:
        """The stimulus values the instrument reported for the last configuration."""
        return self._freqs.copy()

    def sweep_time(self) -> float:
        return self.query_number(self._fmt("sweep_time_q"))

    def query_number(self, cmd: str) -> float:
        """A numeric query; a reply that is not a finite number is a VNAError."""
        reply = self.query(cmd)
        try:
            v = float(reply)
        except ValueError:
            raise VNAError(f"{self.model} answered {cmd!r} with {reply!r}, not a number") from None
        if not np.isfinite(v):
            raise VNAError(f"{self.model} answered {cmd!r} with {reply!r}")
        return v

    def trace_name(self, param: str) -> str:
        return f"{SIMHW_PREFIX}CH{self.channel}_{param}"

    def _sweep_timeout(self) -> float:
        return self.base_timeout + 2.0 * self.sweep_time() * max(1, self.averaging_sweeps)

    def _check_trace(self, p: str, raw: np.ndarray) -> np.ndarray:
        n = self._values.get("points") or 0
        if raw.size != 2 * n:
            raise VNAError(f"{self.model} returned {raw.size // 2} points for {p}, expected {n}")
        if not np.all(np.isfinite(raw)):
            raise VNAError(f"{self.model} returned {int(np.sum(~np.isfinite(raw)))} non-finite values for {p}")
        return raw[0::2] + 1j * raw[1::2]

    # ------------------------------------------------------------------ list sweeps
    @property
    def trigger_outputs(self) -> bool:
        """Whether the instrument pulses a trigger output per point (the model table and ``*OPT?``)."""
        return has_trigger_outputs(self.family, self.options)

    def list_sweep(self, frequency: float, points: int, param: str = "S21", ifbw: float | None = None) -> np.ndarray:
        """CW sweep of ``points`` points with a trigger output pulse after each point.

        Used with a board sequencer in trigger mode: the board steps to the next stored
        configuration after every point, so point k measures configuration k. Every setting it
        changes is restored afterwards, and simhw's traces are as they were.
        """
        cls = type(self)
        if not self.trigger_outputs:
            raise VNAError(
                f"{self.model} has no trigger output per point (options: {', '.join(self.options) or 'none'})"
            )
        cls.cw.check(self, frequency)
        cls.points.check(self, points)
        if ifbw is not None:
            cls.ifbw.check(self, ifbw)
        (param,) = self.check_params((param,))
        with self.lock:
            if self._res is None:
                self._ensure()
            before = {name: self.ask(name) for name in self.LIST_STATE}
            traces = self._params
            points_before = self._values.get("points")
            try:
                self.sweep_type = "CW"
                self.cw = frequency
                self.points = int(points)
                if ifbw is not None:
                    self.ifbw = ifbw
                self._define_traces((param,))
                self._trigger_out(True)
                self.check_errors("the list-sweep configuration")
                self.sweep()
                data = self.read()[param]
            finally:
                self.restore(before)
                if traces:
                    self._define_traces(traces)
                else:
                    self._remove_traces()
                    self._params = ()
                if points_before is not None:
                    self._values["points"] = points_before
        return data

    # ------------------------------------------------------------------ family hooks
    @abc.abstractmethod
    def _define_traces(self, params: tuple[str, ...]) -> None: ...

    @abc.abstractmethod
    def _remove_traces(self) -> None: ...

    @abc.abstractmethod
    def _trigger_out(self, on: bool) -> None: ...

    @abc.abstractmethod
    def _set_averaging(self, sweeps: int) -> None:
        """Average ``sweeps`` sweeps per measurement; 0: averaging off."""

    def _settings_relied_on(self, params: tuple[str, ...]) -> None:
        """The family's settings a sweep and a read of ``params`` depend on, set (none by default)."""
