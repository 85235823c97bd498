"""Optional board and VNA capabilities, as ``runtime_checkable`` Protocols.

The core :class:`~drivers.board.Board` is what every board does; what only some boards do is
found with ``isinstance(board, SlotStore)`` and the like, never with attribute probes or
capability strings. A driver has a capability when it has the methods; a driver whose members
decide (:class:`~drivers.composite.CompositeBoard`) is built as the class that has exactly the
capabilities its members share.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from drivers.board import Board, Latched, PushBatch
from drivers.features import Feature
from drivers.sequence import SequenceMode
from simhw.values.phase_config import PhaseConfig

__all__ = [
    "capable",
    "SlotStore",
    "HostSequencer",
    "TriggerSequencer",
    "TimerSequencer",
    "RandomSequencer",
    "PipelinedPush",
    "LatchReport",
    "Watchdog",
    "ListSweep",
    "SettingsReport",
    "push_in_order",
    "upload_slots",
]


@runtime_checkable
class SlotStore(Protocol):
    """Stored patterns: ``store_slot`` uploads one, ``load_slot`` shows it, ``upload_slots`` stores many."""

    def store_slot(self, slot: int, config: PhaseConfig) -> bool: ...

    def load_slot(self, slot: int) -> None: ...

    def upload_slots(self, configs: dict[int, PhaseConfig]) -> int: ...


@runtime_checkable
class HostSequencer(Protocol):
    """A sequence of slots stepped by host command."""

    def define_sequence(self, slots: list[int]) -> None: ...

    def arm_sequence(
        self, mode: SequenceMode = SequenceMode.HOST, loop: bool = False, period_s: float = 0.0
    ) -> None: ...

    def start_sequence(self) -> int: ...

    def step_sequence(self) -> int: ...

    def stop_sequence(self) -> int: ...


@runtime_checkable
class TriggerSequencer(HostSequencer, Protocol):
    """A sequence stepped by the board's hardware trigger input (one step per pulse)."""

    def arm_trigger(self, loop: bool = False) -> None: ...


@runtime_checkable
class TimerSequencer(HostSequencer, Protocol):
    """A sequence stepped by the board's own timer."""

    def arm_timer(self, period_s: float, loop: bool = False) -> None: ...


@runtime_checkable
class RandomSequencer(Protocol):
    """A never-ending sequence re-drawing one layer per step from a generator host and board share."""

    def define_random_sequence(self, base_slot: int, layer: int, seed: int) -> None: ...

    def random_sequence_codes(self, base: np.ndarray, layer: int, seed: int, steps) -> np.ndarray: ...


@runtime_checkable
class PipelinedPush(Protocol):
    """Consecutive pushes whose bytes overlap on the link, each still verified by readback."""

    def push_many(self, configs: list[PhaseConfig]) -> PushBatch: ...


@runtime_checkable
class LatchReport(Protocol):
    """A board that reports what its last verified push latched (active-pattern CRC, boot id, latch count)."""

    last_latched: Latched | None


@runtime_checkable
class Watchdog(Protocol):
    """A safe pattern shown when the host falls silent."""

    def set_watchdog(self, timeout_s: float) -> None: ...


@runtime_checkable
class ListSweep(Protocol):
    """A VNA's CW sweep with a trigger pulse out after every point (drivers.list_measurement); a driver has
    the method for every model of its family, ``trigger_outputs`` says whether this instrument can pulse."""

    @property
    def trigger_outputs(self) -> bool: ...

    def list_sweep(
        self, frequency: float, points: int, param: str = "S21", ifbw: float | None = None
    ) -> np.ndarray: ...


@runtime_checkable
class SettingsReport(Protocol):
    """A VNA that reports the instrument state a measurement records (IFBW, power, model, correction, cal set)."""

    def measurement_settings(self) -> dict: ...


REPORTED = {
    SlotStore: Feature.SLOTS,
    HostSequencer: Feature.HOST_SEQUENCE,
    TriggerSequencer: Feature.TRIGGER | Feature.HOST_SEQUENCE,
    TimerSequencer: Feature.TIMER | Feature.HOST_SEQUENCE,
    RandomSequencer: Feature.RANDOM_SEQUENCE,
    Watchdog: Feature.WATCHDOG,
}


def capable(device, capability) -> bool:
    """Whether ``device``'s driver has ``capability`` (a Protocol above) and, for a board, the board reports
    the features it needs (HELLO's capability field; a driver whose board reports nothing says what its
    class implements)."""
    if not isinstance(device, capability):
        return False
    if capability is ListSweep:
        return bool(device.trigger_outputs)
    need = REPORTED.get(capability)
    return need is None or (device.info.features & need) == need


def push_in_order(board: Board, configs: list[PhaseConfig]) -> PushBatch:
    """Push ``configs`` in order, each verified by readback, pipelined where the board can; stops at the
    first failure and returns how many were shown and verified, and the error that stopped it."""
    if not configs:
        return PushBatch(0, None)
    if isinstance(board, PipelinedPush):
        return board.push_many(configs)
    for i, cfg in enumerate(configs):
        try:
            board.push(cfg, verify=True)
        except Exception as e:  # noqa: BLE001 - handed to the caller with the count
            return PushBatch(i, e)
    return PushBatch(len(configs), None)


def upload_slots(board: SlotStore, configs: dict[int, PhaseConfig]) -> int:
    """Store ``configs`` slot by slot (for boards with no faster way); returns how many were uploaded."""
    return sum(bool(board.store_slot(s, c)) for s, c in configs.items())
