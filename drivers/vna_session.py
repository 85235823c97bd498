"""The SCPI session of a VNA driver: open, identify, learn the limits, and every write and query through
one lock, with the reconnect after a timeout or a dropped connection (a part of
:class:`~drivers.vna_base.SCPIVNA`; the state policy is in :mod:`drivers.vna_base`).
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyvisa

from drivers.vna_interface import VNAError, VNATimeout
from drivers.vna_settings import Setting
from simhw.values.vna_limits import VNALimits
from simhw.values.vna_models import VNAModel, model_named

__all__ = ["SCPISession", "unquote"]

_ERROR_REPLY = re.compile(r'\s*[+-]?\d+\s*,\s*"')


def unquote(reply: str) -> str:
    return reply.strip().strip("'\"")


class SCPISession:
    """The session part of :class:`~drivers.vna_base.SCPIVNA`, which holds its state (resource, lock, limits,
    model) and supplies ``_reapply`` and ``_remove_traces``."""

    SCPI: ClassVar[dict[str, str]]  # the family's commands by purpose
    family: ClassVar[str]
    resource_name: str
    backend: str
    channel: int
    binary: bool
    base_timeout: float
    preset_on_open: bool
    expected_model: str
    model: str
    spec: VNAModel
    options: tuple[str, ...]
    limits: VNALimits
    lock: threading.RLock
    _given: Any  # a resource object given at construction (a test's scripted instrument), or None
    _rm: pyvisa.ResourceManager | None
    _res: Any  # the open pyvisa message-based resource (or the given one), None while closed
    _fixed_limits: VNALimits | None
    _params: tuple[str, ...]
    _opened_once: bool

    if TYPE_CHECKING:  # what the driver supplies, declared for the type checker

        def _reapply(self) -> None: ...

        def _remove_traces(self) -> None: ...

    def open(self) -> None:
        """Open the session, identify the instrument, learn its limits and choose the data format."""
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
        self._identify()
        self.write("*CLS")
        if self.preset_on_open and not self._opened_once:
            self.write(self.SCPI["preset"])
            self.query("*OPC?", timeout_s=max(self.base_timeout, 30.0))
        self._set_format()
        if self._fixed_limits is None:
            self.limits = self._ask_limits()
        self._opened_once = True

    def _identify(self) -> None:
        idn = self.query("*IDN?")
        fields = [f.strip() for f in idn.split(",")]
        self.model = fields[1] if len(fields) > 1 else idn
        try:
            found = model_named(self.model)
        except KeyError:
            found = None
        if self.expected_model and (found is None or found.name != model_named(self.expected_model).name):
            self.close()
            raise VNAError(
                f"the instrument at {self.resource_name} is a {self.model}, the bench file says {self.expected_model}"
            )
        if found is not None and found.family != self.family:
            self.close()
            raise VNAError(
                f"a {self.model} speaks the {found.family} dialect, not {self.family}: "
                f"set [vna] family = {found.family!r}"
            )
        if found is not None:
            self.spec = found
        opt = unquote(self.query("*OPT?"))
        self.options = tuple(o.strip() for o in opt.split(",") if o.strip() and o.strip() != "0")

    def _ask(self, query: str) -> str | None:
        """A query followed by SYST:ERR? in one message: the value, or None when the instrument refused it."""
        parts = self.query(f"{query};:{self.SCPI['error']}").split(";", 1)
        if len(parts) == 2 and not _ERROR_REPLY.match(parts[0]) and parts[1].strip().lstrip("+").startswith("0"):
            return parts[0]
        return None

    def _ask_limits(self) -> VNALimits:
        """The instrument's own ranges (MIN/MAX queries and its port count), checked against the model table."""
        table = self.spec.limits
        got = {}
        for field, setting, which in (
            ("f_min", "start", "MIN"),
            ("f_max", "stop", "MAX"),
            ("max_points", "points", "MAX"),
            ("ifbw_min", "ifbw", "MIN"),
            ("ifbw_max", "ifbw", "MAX"),
            ("power_min", "power", "MIN"),
            ("power_max", "power", "MAX"),
        ):
            s: Setting = getattr(type(self), setting)
            reply = self._ask(f"{s.query.format(ch=self.channel)} {which}")
            if reply is not None:
                try:
                    got[field] = s.validator.parse(reply)
                except ValueError:
                    pass
        reply = self._ask(self.SCPI["ports_q"])
        if reply is not None:
            got["ports"] = int(float(unquote(reply)))
        limits = VNALimits(**{**table.__dict__, **got})
        off = [
            f"{k} {getattr(limits, k)} (table {getattr(table, k)})"
            for k in got
            if getattr(limits, k) != getattr(table, k)
        ]
        if off:
            warnings.warn(f"{self.model} reports ranges its model table does not list: {', '.join(off)}", stacklevel=3)
        return limits

    def __enter__(self):
        if self._res is None:
            self.open()
        return self

    def close(self) -> None:
        """Delete simhw's traces (the operator's stay) and close the session."""
        if self._res is not None:
            try:
                with self.lock:
                    if self._params:
                        self._remove_traces()
                        self._params = ()
                        self.query("*OPC?")  # the deletions are done before the session ends
            except VNAError:
                pass
            try:
                if self._res is not None:
                    self._res.close()
            except Exception:  # noqa: BLE001 - closing a broken session must not raise
                pass
            self._res = None

    def _drop(self) -> None:
        if self._res is not None:
            try:
                self._res.close()
            except Exception:  # noqa: BLE001
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
                self._drop()
                if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                    raise VNATimeout(
                        f"{self.model} at {self.resource_name} did not answer in time "
                        f"({args[0] if args else ''!r}); the session was reset"
                    ) from None
                raise VNAError(f"I/O error with {self.resource_name}: {exc}") from None
            except (OSError, ConnectionError, EOFError) as exc:
                self._drop()
                raise VNAError(f"connection to {self.resource_name} lost ({exc}); it will be reopened") from None
            except (ValueError, TypeError, IndexError, struct.error) as exc:  # a reply that does not parse
                self._drop()  # what is left of it in the stream must not be read as the next reply
                raise VNAError(
                    f"{self.model} at {self.resource_name} sent a malformed reply to "
                    f"{args[0] if args else ''!r} ({exc}); the session was reset"
                ) from None

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
            self.write("FORM:BORD SWAP")
            self.write(self.SCPI["format_real64"])
        else:
            self.write(self.SCPI["format_ascii"])

    def identify(self) -> str:
        return self.query("*IDN?")

    def errors(self) -> list[str]:
        out = []
        for _ in range(100):
            e = self.query(self.SCPI["error"])
            if e.lstrip("+").startswith("0"):
                break
            out.append(e)
        return out

    def check_errors(self, context: str) -> None:
        errs = self.errors()
        if errs:
            raise VNAError(f"{self.model} rejected {context}: {'; '.join(errs)}")


def _no_delay(resource) -> None:
    """Disable Nagle on a pyvisa-py SOCKET session: small command writes must not wait for ACKs."""
    try:
        sock = resource.visalib.sessions[resource.session].interface
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, KeyError, OSError, TypeError):
        pass  # another backend or resource type: nothing to tune
