"""The simulated VNA's channels and its defined measurements (traces): create, find, select, delete, feed to a
window (a part of :class:`~sim_backend.vna.instrument.SimVNA`, which holds the state they act on).
"""

from __future__ import annotations

from sim_backend.scpi import E, ScpiError
from sim_backend.vna import presets
from sim_backend.vna.state import Channel, TraceDef

__all__ = ["TraceTable"]


class TraceTable:
    """Channels and traces of :class:`SimVNA`."""

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
