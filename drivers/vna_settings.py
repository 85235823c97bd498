"""VNA settings declared once: the SCPI header, the validator and the doc, in the spirit of
scikit-rf's ``VNA.command`` descriptors.

``start = Setting("SENS{ch}:FREQ:STAR", Range(float, "f_min", "f_max"), "start frequency, Hz")``
in a driver class gives a property: assigning validates against the instrument's limits *before*
anything is sent, then writes ``SENS1:FREQ:STAR 2.8e+10``; reading returns the value this driver
last set; ``driver.ask("start")`` queries the instrument and parses its reply.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, overload

from simhw.values.vna_limits import VNALimits

__all__ = ["Setting", "Range", "OnOff", "Mnemonic"]


class Range:
    """A number, checked against the instrument's limits (``VNALimits`` fields) and fixed bounds."""

    def __init__(self, cast=float, lo_key: str | None = None, hi_key: str | None = None, lo=None, hi=None):
        self.cast, self.lo_key, self.hi_key, self.lo, self.hi = cast, lo_key, hi_key, lo, hi

    def bounds(self, limits):
        lo = getattr(limits, self.lo_key) if self.lo_key else self.lo
        hi = getattr(limits, self.hi_key) if self.hi_key else self.hi
        return lo, hi

    def check(self, name: str, value, limits, model: str):
        try:
            v = self.cast(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
        lo, hi = self.bounds(limits)
        if name == "points" and v < 1:
            raise ValueError(f"points must be >= 1, got {value}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{name} = {value!r} is outside the {model} range [{lo}, {hi}]")
        return v

    def format(self, v) -> str:
        return f"{int(v):d}" if self.cast is int else str(float(v))

    def parse(self, reply: str):
        v = float(reply.strip().strip("'\""))
        return int(round(v)) if self.cast is int else v


class OnOff:
    def check(self, name, value, limits, model):
        if isinstance(value, str):
            value = value.strip().upper() in ("1", "ON", "TRUE")
        return bool(value)

    def format(self, v) -> str:
        return "ON" if v else "OFF"

    def parse(self, reply: str) -> bool:
        return reply.strip().upper() in ("1", "ON", "+1")


class Mnemonic:
    def __init__(self, *choices: str):
        self.choices = choices

    def check(self, name, value, limits, model):
        v = str(value).upper()
        if v not in self.choices:
            raise ValueError(f"{name} must be one of {', '.join(self.choices)}, got {value!r}")
        return v

    def format(self, v) -> str:
        return v

    def parse(self, reply: str) -> str:
        return reply.strip().strip("'\"").upper()


class Driver(Protocol):
    """What a setting uses of the driver class it is declared in."""

    channel: int
    model: str
    limits: VNALimits
    _values: dict[str, Any]  # what the driver last set, by setting name

    def _write_setting(self, setting: Setting, value: Any) -> Any: ...


class Setting:
    """One instrument setting: ``header`` (``{ch}`` is the driver's channel), a validator, a doc."""

    def __init__(self, header: str, validator: Range | OnOff | Mnemonic, doc: str, query: str | None = None):
        self.header, self.validator, self.doc = header, validator, doc
        self.query = query or header + "?"
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Setting: ...

    @overload
    def __get__(self, obj: Driver, objtype: type | None = None) -> Any: ...

    def __get__(self, obj: Driver | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name)

    def __set__(self, obj: Driver, value: Any) -> None:
        obj._values[self.name] = obj._write_setting(self, value)

    def check(self, obj: Driver, value: Any) -> Any:
        return self.validator.check(self.name, value, obj.limits, obj.model)

    def command(self, obj: Driver, value: Any) -> str:
        return f"{self.header.format(ch=obj.channel)} {self.validator.format(value)}"
