"""Board sequencers' modes and states: one enum per concept, shared by every board driver, the SMP
codec (whose wire values they are) and the simulated firmware."""

from __future__ import annotations

import enum

__all__ = ["SequenceMode", "SequenceState"]


class SequenceMode(enum.IntEnum):
    HOST = 0  # advanced by host command
    TRIGGER = 1  # advanced by the board's trigger input
    TIMER = 2  # advanced by the board's own timer


class SequenceState(enum.IntEnum):
    IDLE = 0
    ARMED = 1
    RUNNING = 2

    @property
    def label(self) -> str:
        """How :class:`~drivers.board.BoardStatus` reports it: 'idle', 'armed' or 'running'."""
        return self.name.lower()
