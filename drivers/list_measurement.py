"""Triggered list measurement: many configurations in one VNA sweep, no round trip per configuration.

The configurations are stored in board slots once; the board's sequencer is armed in trigger
mode; the VNA runs one CW sweep with an auxiliary trigger pulse after every point, so point k is
measured with configuration k shown. One sweep of N points returns N responses.
"""

from __future__ import annotations

import numpy as np

from drivers.board import Board, BoardCapabilityError, BoardError
from drivers.capabilities import ListSweep, SlotStore, TriggerSequencer, capable
from simhw.values.phase_config import PhaseConfig

__all__ = ["triggered_list_measurement", "ListMeasurementError"]


class ListMeasurementError(BoardError):
    """The sequencer did not step exactly once per point (a missed or extra trigger)."""


def triggered_list_measurement(
    board: Board,
    vna,
    configs: list[PhaseConfig],
    frequency: float,
    param: str = "S21",
    first_slot: int = 0,
    ifbw: float | None = None,
) -> tuple[list[PhaseConfig], np.ndarray]:
    """Measure ``param`` at ``frequency`` for every configuration; returns (configs, responses (N,)).
    ``ifbw`` sets the point time for the sweep (the VNA's is restored afterwards); it must leave the
    board time to latch between points."""
    if not (capable(board, TriggerSequencer) and capable(board, SlotStore)):
        raise BoardCapabilityError(f"board {board.info.serial} has no trigger input: use a software loop")
    assert isinstance(board, TriggerSequencer) and isinstance(board, SlotStore)  # capable() checked both
    if not capable(vna, ListSweep):
        raise BoardCapabilityError(f"{getattr(vna, 'model', type(vna).__name__)} has no per-point trigger output")
    n = len(configs)
    if n == 0:
        raise ValueError("no configurations to measure")
    if first_slot < 0 or first_slot + n > board.info.slots:
        raise ValueError(f"{n} configurations from slot {first_slot} do not fit the board's {board.info.slots} slots")
    slots = {first_slot + i: c for i, c in enumerate(configs)}
    board.upload_slots(slots)
    board.define_sequence(list(slots))
    board.arm_trigger(loop=True)
    board.start_sequence()
    try:
        data = vna.list_sweep(frequency, n, param, ifbw=ifbw)
    finally:
        board.stop_sequence()
    st = board.status()
    if st.seq_missed or st.seq_steps != n:
        raise ListMeasurementError(
            f"sequencer stepped {st.seq_steps} times for {n} points "
            f"({st.seq_missed} missed): responses are not aligned with configurations"
        )
    return list(configs), data
