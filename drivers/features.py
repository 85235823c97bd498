"""What a board can do, as the board reports it: a bitmap shared by the SMP codec (HELLO's capability
field, docs/protocol.md), the firmware and every driver's :class:`~drivers.board.BoardInfo`."""

from __future__ import annotations

import enum

__all__ = ["Feature", "SMP_V1_FEATURES"]


class Feature(enum.IntFlag):
    SHADOW = 1  # a shadow buffer latched atomically by COMMIT
    SLOTS = 2  # stored patterns (SLOT_STORE, SLOT_LOAD)
    HOST_SEQUENCE = 4  # sequences stepped by the host (SEQ_DEFINE, SEQ_ARM host, SEQ_START/STEP/STOP)
    TRIGGER = 8  # sequences stepped by the trigger input
    TIMER = 16  # sequences stepped by the board's timer
    WATCHDOG = 32  # the safe pattern after host silence
    RANDOM_SEQUENCE = 64  # SEQ_RANDOM

    @classmethod
    def all(cls) -> Feature:
        return cls(sum(cls))


# SMP version 1 had no capability field: every version-1 board is taken to have all of these
SMP_V1_FEATURES = Feature.all()
