"""VNA interface and SCPI drivers for two instrument families, over pyvisa (pyvisa-py by default).

One class per family, in the spirit of PyMeasure and scikit-rf's ``skrf.vi``: settings are small
validated properties checked against the instrument's range *before* anything is sent, every SCPI
string lives in the family's ``SCPI`` table, ``SYST:ERR?`` is read after configuration so a
rejected setting raises :class:`VNAError` instead of giving a silently wrong sweep, traces come
back as binary REAL,64 blocks (ASCII as fallback), the I/O timeout follows the sweep time, and
one lock per instrument serialises whole transactions. A timeout or a dropped connection closes
the session; the next call opens a fresh one (stale replies cannot leak into later queries).
"""

from __future__ import annotations

import abc
import socket
import struct
import threading

import numpy as np
import pyvisa

from drivers.vna_limits import FAMILY_LIMITS, VNALimits

__all__ = ["VNA", "VNAError", "VNATimeout", "VNALimits", "SCPIVNA", "KeysightPNA", "RohdeSchwarzZNB", "open_vna"]


class VNAError(RuntimeError):
    """The instrument reported an error, or the request cannot be carried out."""


class VNATimeout(VNAError):
    """The instrument did not answer in time; the session was reset."""


class VNA(abc.ABC):
    """What simhw needs from a VNA."""

    @abc.abstractmethod
    def identify(self) -> str: ...

    @abc.abstractmethod
    def configure(self, start: float, stop: float, points: int, ifbw: float | None = None,
                  power: float | None = None, params: tuple[str, ...] = ("S21",)) -> None: ...

    @abc.abstractmethod
    def frequencies(self) -> np.ndarray: ...

    @abc.abstractmethod
    def sweep(self) -> None:
        """One single sweep of all configured parameters; returns once it is complete."""

    @abc.abstractmethod
    def read(self) -> dict[str, np.ndarray]:
        """The last sweep's complex traces, by S-parameter name."""

    @abc.abstractmethod
    def errors(self) -> list[str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def measure(self) -> dict[str, np.ndarray]:
        self.sweep()
        return self.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_LIMIT_KEYS = {"start": ("f_min", "f_max"), "stop": ("f_min", "f_max"), "points": (None, "max_points"),
               "ifbw": ("ifbw_min", "ifbw_max"), "power": ("power_min", "power_max"), "cw": ("f_min", "f_max")}


def _validated(name: str, cast=float):
    """A property that range-checks against ``self.limits`` and writes through ``self._set``."""

    def fget(self):
        return getattr(self, f"_{name}")

    def fset(self, value):
        v = self._check(name, value, cast)
        self._set(name, v)
        setattr(self, f"_{name}", v)

    return property(fget, fset, doc=f"{name}, validated against the instrument limits before it is sent")


class SCPIVNA(VNA):
    """Shared plumbing of the SCPI families. Subclasses provide ``SCPI`` and ``LIMITS``."""

    SCPI: dict[str, str] = {}
    LIMITS = VNALimits(10e6, 67e9)
    family = "scpi"

    def __init__(self, resource, channel: int = 1, backend: str = "@py", binary: bool = True,
                 timeout_s: float = 5.0, limits: VNALimits | None = None):
        """``resource``: a VISA resource string (opened with pyvisa's ``backend``), or an open
        pyvisa-style resource object to talk through (a test's scripted instrument). Nothing is
        opened here: :meth:`open`, the ``with`` block or the first query does it."""
        self._given = None if isinstance(resource, str) else resource
        self.resource_name = resource if isinstance(resource, str) else getattr(resource, "resource_name", "resource")
        self.channel = channel
        self.backend = backend
        self.binary = binary
        self.base_timeout = timeout_s
        self.limits = limits or self.LIMITS
        self.model = self.family
        self.lock = threading.RLock()
        self._rm = None
        self._res = None
        self._params: tuple[str, ...] = ()
        self._start = self._stop = self._points = self._ifbw = self._power = None
        self._cw = None

    # ------------------------------------------------------------------ session
    def open(self) -> None:
        """Open the session, read the identity, clear the status and choose the data format."""
        try:
            if self._given is not None:
                self._res = self._given
            else:
                self._rm = self._rm or pyvisa.ResourceManager(self.backend)
                self._res = self._rm.open_resource(self.resource_name)
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as exc:
            raise VNAError(f"cannot open VNA at {self.resource_name}: {exc}") from None
        self._res.read_termination = "\n"
        self._res.write_termination = "\n"
        _no_delay(self._res)
        self._res.timeout = int(self.base_timeout * 1000)
        idn = self.query("*IDN?")
        self.model = idn.split(",")[1].strip() if "," in idn else idn
        self.write(self.SCPI["clear"])
        self._set_format()

    def __enter__(self):
        if self._res is None:
            self.open()
        return self

    def close(self) -> None:
        if self._res is not None:
            try:
                self._res.close()
            except Exception:  # noqa: BLE001 - closing a broken session must not raise
                pass
            self._res = None

    def _ensure(self):
        if self._res is None:
            self.open()
            self._reapply()
        return self._res

    def _io(self, fn, *args, **kw):
        with self.lock:
            res = self._ensure()
            try:
                return fn(res, *args, **kw)
            except pyvisa.errors.VisaIOError as exc:
                self.close()
                if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                    raise VNATimeout(f"{self.model} at {self.resource_name} did not answer in time "
                                     f"({args[0] if args else ''!r}); the session was reset") from None
                raise VNAError(f"I/O error with {self.resource_name}: {exc}") from None
            except (OSError, ConnectionError, EOFError) as exc:
                self.close()
                raise VNAError(f"connection to {self.resource_name} lost ({exc}); it will be reopened") from None
            except (ValueError, TypeError, IndexError, struct.error) as exc:  # a reply that does not parse
                self.close()  # what is left of it in the stream must not be read as the next reply
                raise VNAError(f"{self.model} at {self.resource_name} sent a malformed reply to "
                               f"{args[0] if args else ''!r} ({exc}); the session was reset") from None

    def write(self, cmd: str) -> None:
        self._io(lambda r, c: r.write(c), cmd)

    def query(self, cmd: str, timeout_s: float | None = None) -> str:
        def q(r, c):
            if timeout_s is not None:
                r.timeout = int(timeout_s * 1000)
            try:
                return r.query(c).strip()
            finally:
                r.timeout = int(self.base_timeout * 1000)

        return self._io(q, cmd)

    def query_values(self, cmd: str) -> np.ndarray:
        def q(r, c):
            if self.binary:
                return np.asarray(r.query_binary_values(c, datatype="d", is_big_endian=False, container=np.array))
            return np.asarray(r.query_ascii_values(c, container=np.array))

        return self._io(q, cmd)

    def _set_format(self) -> None:
        if self.binary:
            self.write(self.SCPI["byte_order_swap"])
            self.write(self.SCPI["format_real64"])
        else:
            self.write(self.SCPI["format_ascii"])

    def identify(self) -> str:
        return self.query("*IDN?")

    def errors(self) -> list[str]:
        out = []
        for _ in range(100):
            e = self.query(self.SCPI["error"])
            if e.startswith(("+0", "0,")):
                break
            out.append(e)
        return out

    def check_errors(self, context: str) -> None:
        errs = self.errors()
        if errs:
            raise VNAError(f"{self.model} rejected {context}: {'; '.join(errs)}")

    # ------------------------------------------------------------------ settings
    def _fmt(self, key: str, **kw) -> str:
        return self.SCPI[key].format(ch=self.channel, **kw)

    def _set(self, name: str, value: float) -> None:
        self.write(self._fmt(name, v=value))

    start = _validated("start")
    stop = _validated("stop")
    points = _validated("points", cast=int)
    ifbw = _validated("ifbw")
    power = _validated("power")
    cw = _validated("cw")

    def _reapply(self) -> None:
        """After a reconnect, put back what this driver had set."""
        for name in ("start", "stop", "points", "ifbw", "power"):
            v = getattr(self, f"_{name}")
            if v is not None:
                self._set(name, v)
        if self._params:
            self._define_traces(self._params)

    def configure(self, start: float, stop: float, points: int, ifbw: float | None = None,
                  power: float | None = None, params: tuple[str, ...] = ("S21",)) -> None:
        if stop < start:
            raise ValueError(f"stop ({stop}) must not be below start ({start})")
        for p in params:
            if not (len(p) == 3 and p[0].upper() == "S" and p[1:].isdigit()
                    and all(1 <= int(c) <= self.limits.ports for c in p[1:])):
                raise ValueError(f"{p!r} is not an S-parameter of a {self.limits.ports}-port instrument")
        # validate everything before the first write
        for name, v in (("start", start), ("stop", stop), ("points", points), ("ifbw", ifbw), ("power", power)):
            if v is not None:
                self._check(name, v, int if name == "points" else float)
        self.write(self._fmt("sweep_type_linear"))
        self.start, self.stop, self.points = start, stop, points
        if ifbw is not None:
            self.ifbw = ifbw
        if power is not None:
            self.power = power
        self._define_traces(tuple(p.upper() for p in params))
        self.check_errors("the configuration")

    def _check(self, name: str, value, cast=float):
        """Validate a setting against the instrument limits; returns it cast, or raises ValueError."""
        try:
            v = cast(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if name == "points" and v < 1:
            raise ValueError(f"points must be >= 1, got {value}")
        lo, hi = (getattr(self.limits, a) if a else None for a in _LIMIT_KEYS[name])
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{name} = {value!r} is outside the {self.model} range [{lo}, {hi}]")
        return v

    def frequencies(self) -> np.ndarray:
        if self._start is None:
            return np.array([])
        return np.linspace(self._start, self._stop, self._points)

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

    def _trace_name(self, param: str) -> str:
        return f"simhw_CH{self.channel}_{param}"

    @abc.abstractmethod
    def _define_traces(self, params: tuple[str, ...]) -> None: ...

    def _sweep_timeout(self) -> float:
        return self.base_timeout + 2.0 * self.sweep_time()

    def read(self) -> dict[str, np.ndarray]:
        out = {}
        for p in self._params:
            self.write(self._fmt("select", name=self._trace_name(p)))
            raw = self.query_values(self._fmt("data_q"))
            if raw.size != 2 * (self._points or 0):
                raise VNAError(f"{self.model} returned {raw.size // 2} points for {p}, expected {self._points}")
            if not np.all(np.isfinite(raw)):
                raise VNAError(f"{self.model} returned {int(np.sum(~np.isfinite(raw)))} non-finite values for {p}")
            out[p] = raw[0::2] + 1j * raw[1::2]
        return out


class KeysightPNA(SCPIVNA):
    """Keysight PNA / PNA-X family (N52xx)."""

    family = "keysight"
    LIMITS = FAMILY_LIMITS["keysight"]
    SCPI = {
        "clear": "*CLS",
        "error": "SYST:ERR?",
        "opc": "*OPC?",
        "byte_order_swap": "FORM:BORD SWAP",
        "format_real64": "FORM REAL,64",
        "format_ascii": "FORM ASC,0",
        "start": "SENS{ch}:FREQ:STAR {v}",
        "stop": "SENS{ch}:FREQ:STOP {v}",
        "points": "SENS{ch}:SWE:POIN {v:d}",
        "ifbw": "SENS{ch}:BWID {v}",
        "power": "SOUR{ch}:POW {v}",
        "cw": "SENS{ch}:FREQ:CW {v}",
        "sweep_type_linear": "SENS{ch}:SWE:TYPE LIN",
        "sweep_type_cw": "SENS{ch}:SWE:TYPE CW",
        "sweep_time_q": "SENS{ch}:SWE:TIME?",
        "delete_all": "CALC{ch}:PAR:DEL:ALL",
        "define": "CALC{ch}:PAR:EXT '{name}',{param}",
        "feed": "DISP:WIND1:TRAC{n}:FEED '{name}'",
        "select": "CALC{ch}:PAR:SEL '{name}'",
        "single": "SENS{ch}:SWE:MODE SING",
        "hold": "SENS{ch}:SWE:MODE HOLD",
        "data_q": "CALC{ch}:DATA? SDATA",
        "trigger_source_imm": "TRIG:SOUR IMM",
        "aux_enable": "TRIG:CHAN{ch}:AUX1 ON",
        "aux_disable": "TRIG:CHAN{ch}:AUX1 OFF",
        "aux_point": "TRIG:CHAN{ch}:AUX1:INT POIN",
        "aux_after": "TRIG:CHAN{ch}:AUX1:POS AFT",
    }

    def _define_traces(self, params: tuple[str, ...]) -> None:
        self.write(self._fmt("delete_all"))
        for n, p in enumerate(params, start=1):
            name = self._trace_name(p)
            self.write(self._fmt("define", name=name, param=p))
            self.write(self._fmt("feed", n=n, name=name))
        self._params = params

    def sweep(self) -> None:
        with self.lock:
            self.write(self.SCPI["trigger_source_imm"])
            self.write(self._fmt("single"))
            reply = self.query(self.SCPI["opc"], timeout_s=self._sweep_timeout())
            if reply.strip().lstrip("+") != "1":
                raise VNAError(f"unexpected *OPC? reply {reply!r}")

    def list_sweep(self, frequency: float, points: int, param: str = "S21") -> np.ndarray:
        """CW sweep of ``points`` points with an auxiliary trigger pulse after each point.

        Used with a board sequencer in trigger mode: the board steps to the next stored
        configuration after every point, so point k measures configuration k.
        """
        self._check("cw", frequency)
        self._check("points", points, int)
        with self.lock:
            self.write(self._fmt("sweep_type_cw"))
            self.cw = frequency
            self._points = int(points)
            self.write(self._fmt("points", v=int(points)))
            self._define_traces((param.upper(),))
            for key in ("aux_enable", "aux_point", "aux_after"):
                self.write(self._fmt(key))
            self.check_errors("the list-sweep configuration")
            try:
                self.sweep()
                data = self.read()[param.upper()]
            finally:
                self.write(self._fmt("aux_disable"))
                self.write(self._fmt("sweep_type_linear"))
                if self._start is not None:
                    self._set("points", self._points)
        return data


class RohdeSchwarzZNB(SCPIVNA):
    """Rohde & Schwarz ZNB / ZNA family."""

    family = "rs"
    LIMITS = FAMILY_LIMITS["rs"]
    SCPI = {
        "clear": "*CLS",
        "error": "SYST:ERR?",
        "byte_order_swap": "FORM:BORD SWAP",
        "format_real64": "FORM REAL,64",
        "format_ascii": "FORM ASC",
        "start": "SENS{ch}:FREQ:STAR {v}",
        "stop": "SENS{ch}:FREQ:STOP {v}",
        "points": "SENS{ch}:SWE:POIN {v:d}",
        "ifbw": "SENS{ch}:BAND {v}",
        "power": "SOUR{ch}:POW {v}",
        "cw": "SENS{ch}:FREQ:CW {v}",
        "sweep_type_linear": "SENS{ch}:SWE:TYPE LIN",
        "sweep_time_q": "SENS{ch}:SWE:TIME?",
        "delete_all": "CALC{ch}:PAR:DEL:ALL",
        "define": "CALC{ch}:PAR:SDEF '{name}','{param}'",
        "select": "CALC{ch}:PAR:SEL '{name}'",
        "continuous_off": "INIT{ch}:CONT OFF",
        "single_wait": "INIT{ch}:IMM; *WAI",
        "data_q": "CALC{ch}:DATA? SDAT",
    }

    def _define_traces(self, params: tuple[str, ...]) -> None:
        self.write(self._fmt("delete_all"))
        for p in params:
            self.write(self._fmt("define", name=self._trace_name(p), param=p))
        self._params = params

    def sweep(self) -> None:
        with self.lock:
            self.write(self._fmt("continuous_off"))
            self.write(self._fmt("single_wait"))
            # *WAI holds the parser until the sweep ends: a query after it returns only then
            self.query("*OPC?", timeout_s=self._sweep_timeout())


def _no_delay(resource) -> None:
    """Disable Nagle on a pyvisa-py SOCKET session: small command writes must not wait for ACKs."""
    try:
        sock = resource.visalib.sessions[resource.session].interface
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, KeyError, OSError, TypeError):
        pass  # another backend or resource type: nothing to tune


def open_vna(family: str, resource, **kw) -> SCPIVNA:
    """The VNA driver of ``family`` ('keysight' or 'rs') for ``resource``, opened."""
    try:
        cls = {"keysight": KeysightPNA, "rs": RohdeSchwarzZNB}[family]
    except KeyError:
        raise ValueError(f"unknown VNA family {family!r}; choose 'keysight' or 'rs'") from None
    vna = cls(resource, **kw)
    vna.open()
    return vna
