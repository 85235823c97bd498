"""A space-time session on the bench: N slots of a randomised layer at the slot rate, measured.

Seed 001 (sec. V, Remark 6) re-randomises the input layer every slot, at kHz rates. On the bench
the board's sequencer does it (SMP SEQ_RANDOM): step k shows the base configuration with one
layer re-drawn from the counter-based generator the host shares (``drivers.smp.random_layer_codes``),
so the host knows every slot's pattern without sending any. The VNA runs one CW list sweep with a
trigger pulse after every point; each pulse steps the sequencer, so point k measures slot k. The
point time 1/IFBW (+ the instrument's overhead) sets the slot rate. Afterwards the board's status
must show exactly one step per slot and no missed step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from drivers import smp
from drivers.board import BoardCapabilityError
from drivers.capabilities import ListSweep, RandomSequencer, SlotStore, TriggerSequencer, capable
from simhw.values.phase_config import PhaseConfig

__all__ = ["STSession", "run_st_session", "ifbw_for_rate", "max_slot_rate", "SessionError"]

STANDARD_IFBW = (1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6)


class SessionError(RuntimeError):
    """The sequencer did not step exactly once per slot: responses and slots are not aligned."""


@dataclass
class STSession:
    slots: int
    layer: int
    seed: int
    frequency: float
    param: str
    ifbw: float
    responses: np.ndarray  # (slots,) complex
    steps: int
    missed: int
    seconds: float  # wall time of the sweep, I/O included

    @property
    def slot_rate_hz(self) -> float:
        """Slots per second of wall time, instrument I/O included (a lower bound on the sweep's rate)."""
        return self.slots / self.seconds

    def codes(self, base: PhaseConfig) -> np.ndarray:
        """(slots, L, rows, cols) codes each slot showed on ``base``."""
        return smp.random_sequence_patterns(base.codes, self.layer, self.seed, np.arange(self.slots), base.bits)


POINT_OVERHEAD_S = 50e-6  # a point's time beyond 1/IFBW (settling, the trigger's round trip)


def max_slot_rate(overhead_s: float = POINT_OVERHEAD_S) -> float:
    """The fastest slot rate a session can run: one point of the widest standard IF bandwidth per slot."""
    return 1.0 / (1.0 / max(STANDARD_IFBW) + overhead_s)


def ifbw_for_rate(rate_hz: float, overhead_s: float = POINT_OVERHEAD_S) -> float:
    """The narrowest standard IF bandwidth whose point time (1/IFBW + overhead) fits one slot."""
    for bw in STANDARD_IFBW:
        if 1.0 / bw + overhead_s <= 1.0 / rate_hz:
            return bw
    raise ValueError(f"a slot rate of {rate_hz:g} Hz is beyond the VNA's fastest point time")


def run_st_session(
    board,
    vna,
    base: PhaseConfig,
    layer: int,
    seed: int,
    slots: int,
    rate_hz: float,
    frequency: float,
    param: str = "S21",
    slot: int | None = None,
) -> STSession:
    """Run ``slots`` slots of a randomised ``layer`` at ``rate_hz`` or faster (see the module doc)."""
    info = board.info
    if not (
        capable(board, RandomSequencer)
        and capable(board, TriggerSequencer)
        and capable(board, SlotStore)
        and capable(vna, ListSweep)
    ):
        raise BoardCapabilityError(
            "a space-time session needs a board with SEQ_RANDOM and a VNA with per-point trigger output"
        )
    if slots < 1:
        raise ValueError("slots must be >= 1")
    if slots > vna.limits.max_points:
        raise ValueError(f"{slots} slots exceed the VNA's {vna.limits.max_points} points per sweep")
    if not 0 <= layer < info.layers:
        raise ValueError(f"layer {layer} does not exist: the board has {info.layers} layers")
    slot = info.slots - 1 if slot is None else slot
    ifbw = ifbw_for_rate(rate_hz)
    board.store_slot(slot, base)
    board.define_random_sequence(slot, layer, seed)
    board.arm_trigger(loop=True)
    t0 = time.perf_counter()
    board.start_sequence()
    try:
        data = vna.list_sweep(frequency, slots, param, ifbw=ifbw)
    finally:
        board.stop_sequence()
    seconds = time.perf_counter() - t0
    st = board.status()
    result = STSession(
        slots, layer, seed, frequency, param, ifbw, np.asarray(data), st.seq_steps, st.seq_missed, seconds
    )
    if st.seq_missed or st.seq_steps != slots:
        raise SessionError(f"the sequencer stepped {st.seq_steps} times for {slots} slots ({st.seq_missed} missed)")
    return result
