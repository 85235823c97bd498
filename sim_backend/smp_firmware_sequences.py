"""The simulated SMP firmware's slot and sequence requests (SLOT_STORE, SLOT_LOAD, SEQ_*) and the
sequencer's step (by request, trigger or timer): a part of :class:`~sim_backend.smp_firmware.SMPFirmware`,
in the order and with the NAKs docs/protocol.md gives.
"""

from __future__ import annotations

from dataclasses import astuple

import numpy as np

from drivers import smp
from drivers.features import Feature
from drivers.sequence import SequenceMode, SequenceState
from drivers.smp import NakCode
from drivers.smp_messages import Latch, SeqArm, SeqDefine, SeqPosition, SeqRandom, Slot, SlotCrc, SlotStoreBody

__all__ = ["Refused", "SlotAndSequenceRequests", "MODE_NEEDS"]

MODE_NEEDS = {
    SequenceMode.HOST: Feature.HOST_SEQUENCE,
    SequenceMode.TRIGGER: Feature.TRIGGER,
    SequenceMode.TIMER: Feature.TIMER,
}


class Refused(Exception):
    """A request the firmware answers with NAK ``code`` and ``detail``."""

    def __init__(self, code: NakCode, detail: int = 0):
        self.code, self.detail = code, detail


class SlotAndSequenceRequests:
    """The ``_do_*`` handlers of the slot and sequence requests, and the sequencer's ``_step``,
    ``_sequence_pattern`` and ``_advance_timer``; the firmware supplies its state (shadow, slots,
    sequence registers) and ``_body``, ``_expect`` and ``_latch``."""

    def _step(self, now: float) -> bool:
        nxt = self.seq_pos + 1
        if self.seq_random is not None:
            nxt = 0  # a random sequence has one position and never ends
        elif nxt >= len(self.sequence):
            if not self.seq_loop:
                self.seq_missed += 1  # a step past the end of a one-shot sequence is lost
                self.seq_state = SequenceState.IDLE
                return False
            nxt = 0
        self.seq_pos = nxt
        self._latch(self._sequence_pattern(nxt, self.seq_steps + 1), now)
        self.seq_steps += 1
        return True

    def _sequence_pattern(self, pos: int, step: int) -> np.ndarray:
        """The pattern a sequence latches at position ``pos``, step ``step`` (0 = the start)."""
        base = self.slots[self.sequence[pos]]
        if self.seq_random is None:
            return base
        layer, seed = self.seq_random
        out = base.copy()
        out[layer] = smp.random_layer_codes(seed, [step], self.n_atoms, self.bits)[0]
        return out

    def _advance_timer(self, now: float) -> None:
        if self.seq_state != SequenceState.RUNNING or self.seq_mode != SequenceMode.TIMER:
            return
        while self.seq_state == SequenceState.RUNNING and self._next_tick <= now:
            self._step(self._next_tick)
            self._next_tick += self.seq_period

    def _slot_index(self, slot: int) -> int:
        if slot >= self.n_slots:
            raise Refused(NakCode.NO_SUCH_SLOT, slot)
        return slot

    def _do_slot_store(self, body, now):
        slot, expected = astuple(self._body(SlotStoreBody, body))
        slot = self._slot_index(slot)
        crc = smp.pattern_crc(self.shadow, self.bits)
        if crc != expected:
            raise Refused(NakCode.CRC_MISMATCH)
        if self.seq_state == SequenceState.RUNNING and slot in self.sequence:
            raise Refused(NakCode.SEQ_STATE, slot)
        self.slots[slot] = self.shadow.copy()
        self.slot_crc[slot] = crc
        return SlotCrc(crc).pack()

    def _do_slot_load(self, body, now):
        slot = self._slot_index(self._body(Slot, body).slot)
        if self.slots[slot] is None:
            raise Refused(NakCode.EMPTY_SLOT, slot)
        self._latch(self.slots[slot], now)
        return Latch(self.slot_crc[slot], self.latch_count).pack()

    def _do_seq_define(self, body, now):
        seq = list(self._body(SeqDefine, body).slots)
        if not seq:
            raise Refused(NakCode.BAD_ARGUMENT, 0)
        if self.seq_state != SequenceState.IDLE:
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        for s in seq:
            if self.slots[self._slot_index(s)] is None:
                raise Refused(NakCode.EMPTY_SLOT, s)
        self.sequence = seq
        self.seq_random = None
        return b""

    def _do_seq_random(self, body, now):
        """A sequence that never ends: every step latches the base slot with ``layer`` re-drawn from
        the shared counter-based generator (smp.random_layer_codes) at that step."""
        slot, layer, seed = astuple(self._body(SeqRandom, body))
        slot = self._slot_index(slot)
        if layer >= self.layers:
            raise Refused(NakCode.BAD_ARGUMENT, layer)
        if self.seq_state != SequenceState.IDLE:
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        if self.slots[slot] is None:
            raise Refused(NakCode.EMPTY_SLOT, slot)
        self.sequence = [slot]
        self.seq_random = (layer, seed)
        return b""

    def _do_seq_arm(self, body, now):
        mode, loop, period_us = astuple(self._body(SeqArm, body))
        if mode not in (0, 1, 2) or (mode == SequenceMode.TIMER and period_us == 0):
            raise Refused(NakCode.BAD_ARGUMENT, mode)
        if not self.features & MODE_NEEDS[mode]:
            raise Refused(NakCode.UNSUPPORTED, mode)
        if not self.sequence or self.seq_state == SequenceState.RUNNING:
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        self.seq_mode, self.seq_loop, self.seq_period = SequenceMode(mode), bool(loop), period_us / 1e6
        self.seq_state = SequenceState.ARMED
        self.seq_pos = 0
        self.seq_steps = 0
        self.seq_missed = 0
        return b""

    def _do_seq_start(self, body, now):
        self._expect(body, 0)
        if self.seq_state != SequenceState.ARMED:
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        self.seq_state = SequenceState.RUNNING
        self._latch(self._sequence_pattern(0, 0), now)
        self._next_tick = now + self.seq_period
        return SeqPosition(self.seq_pos, self.seq_steps).pack()

    def _do_seq_stop(self, body, now):
        self._expect(body, 0)
        self._advance_timer(now)
        self.seq_state = SequenceState.IDLE
        return SeqPosition(self.seq_pos, self.seq_steps).pack()

    def _do_seq_step(self, body, now):
        self._expect(body, 0)
        if self.seq_state != SequenceState.RUNNING or self.seq_mode != SequenceMode.HOST:
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        if not self._step(now):
            raise Refused(NakCode.SEQ_STATE, self.seq_state)
        return SeqPosition(self.seq_pos, self.seq_steps).pack()
