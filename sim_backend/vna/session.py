"""One client's message exchange with a simulated instrument, as each interface delivers responses."""

from __future__ import annotations

from sim_backend.scpi import E

__all__ = ["Session"]


class Session:
    """One client's message exchange. ``buffered`` keeps the response until the client reads it
    (VXI-11's device_read): a new message before the read interrupts it (-410) and drops it.
    ``instrument``: the :class:`~sim_backend.vna.instrument.SimVNA` the messages go to."""

    def __init__(self, instrument, buffered: bool):
        self.instrument, self.buffered = instrument, buffered
        self.output = bytearray()

    def message(self, text_: str) -> tuple[bytes | None, float]:
        if self.buffered and self.output:
            self.output.clear()
            self.instrument.push_error(E.INTERRUPTED)
        reply, stall = self.instrument.execute(text_)
        if reply is not None and self.buffered:
            self.output += reply + b"\n"
        return reply, stall

    def read(self, size: int) -> bytes:
        out = bytes(self.output[:size])
        del self.output[:size]
        return out
