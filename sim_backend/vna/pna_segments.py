"""The PNA's segment table (``SENSe<n>:SEGMent<n>:...``): one segment per command, by number.

A mixin of :class:`~sim_backend.vna.pna.SimPNA`; the segments live in the channel
(:class:`~sim_backend.vna.state.Channel`), and a segment sweep reads them from there.
"""

from __future__ import annotations

from sim_backend.scpi import Boolean, E, Number, ScpiError, Tree, fmt_int
from sim_backend.vna.state import Segment

__all__ = ["PnaSegmentTable"]


class PnaSegmentTable:
    """``SEGMent<n>:ADD``, ``:DELete``, ``:DELete:ALL``, ``:COUNt`` and each segment's state, start, stop
    and points, for a :class:`~sim_backend.vna.instrument.SimVNA`."""

    def segment_tree(self, t: Tree) -> None:
        t.add("[SENSe<n>]:SEGMent<n>:ADD", self._segment_add)
        t.add("[SENSe<n>]:SEGMent<n>:DELete", self._segment_delete)
        t.add("[SENSe<n>]:SEGMent:DELete:ALL", lambda s, a: self.chan(s[0]).segments.clear())
        t.add("[SENSe<n>]:SEGMent:COUNt", lambda s, a: fmt_int(len(self.chan(s[0]).segments)), True)
        for field, spec, param, fmt in (
            ("on", "[:STATe]", Boolean, lambda v: "1" if v else "0"),
            ("start", ":FREQuency:STARt", self.hz(), self.real),
            ("stop", ":FREQuency:STOP", self.hz(), self.real),
            ("points", ":SWEep:POINts", Number(lambda: 1, lambda: self.limits.max_points, integer=True), fmt_int),
        ):
            t.add(f"[SENSe<n>]:SEGMent<n>{spec}", self._segment_set(field, param))
            t.add(f"[SENSe<n>]:SEGMent<n>{spec}", self._segment_get(field, fmt), True)

    def _segment_add(self, s, a):
        ch = self.chan(s[0])
        n = s[1] or len(ch.segments) + 1
        if not 1 <= n <= len(ch.segments) + 1:
            raise ScpiError(E.HEADER_SUFFIX, f"segment {n}")
        ch.segments.insert(n - 1, Segment(ch.start, ch.stop, 21))

    def _segment_delete(self, s, a):
        ch = self.chan(s[0])
        n = s[1] or 1
        if not 1 <= n <= len(ch.segments):
            raise ScpiError(E.HEADER_SUFFIX, f"segment {n}")
        del ch.segments[n - 1]

    def _segment(self, s):
        ch = self.chan(s[0])
        n = s[1] or 1
        if not 1 <= n <= len(ch.segments):
            raise ScpiError(E.HEADER_SUFFIX, f"segment {n}")
        return ch.segments[n - 1]

    def _segment_set(self, field, param):
        def fn(s, a):
            if not a:
                raise ScpiError(E.MISSING_PARAMETER)
            setattr(self._segment(s), field, param.parse(a[0]))

        return fn

    def _segment_get(self, field, fmt):
        return lambda s, a: fmt(getattr(self._segment(s), field))
