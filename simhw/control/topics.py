"""The daemon's telemetry topics, declared once beside its operations (docs/control.md lists them).

Each is the first frame of a PUB message (its second is the JSON data, with ``t``); the events the
daemon also keeps in its store carry the same name as their ``kind``. A :class:`Topic` is a ``str``,
so it is compared with, encoded and formatted like the plain name.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Topic", "StoredEvent"]


class Topic(StrEnum):
    """Every topic the daemon publishes."""

    HEARTBEAT = "heartbeat"
    PUSH = "push"
    MEASUREMENT = "measurement"
    CALIBRATION = "calibration"
    INDICATORS = "indicators"
    ST_SESSION = "st_session"
    FAULT = "fault"
    BOARD_RESET = "board_reset"
    BOARD_CHANGED = "board_changed"
    CONFIG_RESTORED = "config_restored"
    CONFIG_NOT_RESTORED = "config_not_restored"


class StoredEvent(StrEnum):
    """Events the daemon keeps in its store without publishing them."""

    CALIBRATION_INTERRUPTED = "calibration_interrupted"  # a run the daemon's stop (or crash) cut short
