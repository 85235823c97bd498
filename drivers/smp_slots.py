"""The SMP driver's stored patterns and sequences (SLOT_*, SEQ_*): a part of :class:`~drivers.smp_board.SMPBoard`.

Each method checks the board's reported features and its slot range before anything is sent, and goes
through the driver's ``request``/``transact`` (the host engine's retries and reset detection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from drivers import smp
from drivers.board import BoardInfo, BoardRefused, BoardStatus, check_config_fits
from drivers.features import Feature
from drivers.sequence import SequenceMode
from drivers.smp import MsgType, NakCode, SMPMessage
from drivers.smp_messages import BodyT, Nak, SeqArm, SeqDefine, SeqPosition, SeqRandom, Slot, SlotStoreBody
from drivers.transport import CountingLink
from simhw.values.phase_config import PhaseConfig

__all__ = ["SlotsAndSequences"]


class SlotsAndSequences:
    """Slots (store, upload, load) and sequences (define, arm, start, step, stop, random) of an SMP board;
    the driver supplies ``info``, ``link``, ``status``, ``write``, ``request``, ``transact``, ``_writes``,
    ``_reply``, ``_require`` and ``_raise_if_reset``."""

    if TYPE_CHECKING:  # what the driver supplies, declared for the type checker
        info: BoardInfo
        link: CountingLink

        def status(self) -> BoardStatus: ...

        def write(self, config: PhaseConfig) -> None: ...

        def request(self, mtype: int, body: bytes = b"", reply_size: int = 64) -> bytes: ...

        def transact(
            self, requests: list[tuple[int, bytes]], reply_size: int = 64, raise_nak: bool = True
        ) -> list[SMPMessage]: ...

        def _writes(self, codes: np.ndarray) -> tuple[list[tuple[int, bytes]], int]: ...

        def _reply(self, cls: type[BodyT], body: bytes) -> BodyT: ...

        def _require(self, feature: Feature) -> None: ...

        def _raise_if_reset(self) -> None: ...

    def store_slot(self, slot: int, config: PhaseConfig, skip_if_present: bool = True) -> bool:
        """Store ``config`` in ``slot``; returns False when the slot already held it (no upload)."""
        check_config_fits(config, self.info)
        self._check_slot(slot)
        crc = smp.pattern_crc(config.codes, self.info.bits)
        if skip_if_present and self.status().slot_crcs[slot] == crc:
            return False
        self.write(config)
        self.request(MsgType.SLOT_STORE, SlotStoreBody(slot, crc).pack())
        return True

    def _check_slot(self, slot: int) -> None:
        self._require(Feature.SLOTS)
        if not 0 <= slot < self.info.slots:
            raise ValueError(f"slot {slot} out of range: board {self.info.serial} has slots 0..{self.info.slots - 1}")

    def upload_slots(self, configs: dict[int, PhaseConfig], skip_present: bool = True) -> int:
        """Store many slots in one pipelined burst (WRITEs then SLOT_STORE per slot); returns bytes sent.

        Each SLOT_STORE carries the CRC of the pattern it expects in the shadow, so a WRITE lost or
        reordered by a retry makes that store fail with CRC_MISMATCH instead of storing a wrong
        pattern; such slots are then stored again one at a time. With ``skip_present``, slots whose
        CRC in STATUS already matches are not sent again.
        """
        for slot, cfg in configs.items():
            self._check_slot(slot)
            check_config_fits(cfg, self.info)
        before = self.link.bytes_out
        if skip_present:
            present = self.status().slot_crcs
            configs = {s: c for s, c in configs.items() if present[s] != smp.pattern_crc(c.codes, self.info.bits)}
        reqs: list[tuple[int, bytes]] = []
        store_idx: list[tuple[int, int]] = []
        for slot, cfg in configs.items():
            writes, crc = self._writes(cfg.codes)
            reqs += writes
            store_idx.append((len(reqs), slot))
            reqs.append((MsgType.SLOT_STORE, SlotStoreBody(slot, crc).pack()))
        self._raise_if_reset()
        replies = self.transact(reqs, reply_size=16, raise_nak=False)
        self._raise_if_reset()
        for idx, slot in store_idx:
            rep = replies[idx]
            if rep.type == MsgType.NAK:
                code = Nak.code_of(rep.body)
                if code != NakCode.CRC_MISMATCH:
                    raise BoardRefused(str(smp.NakError(MsgType.SLOT_STORE, code)), code)
                self.store_slot(slot, configs[slot], skip_if_present=False)
        return self.link.bytes_out - before

    def load_slot(self, slot: int) -> None:
        self._check_slot(slot)
        self.request(MsgType.SLOT_LOAD, Slot(slot).pack())

    def define_sequence(self, slots: list[int]) -> None:
        self._require(Feature.HOST_SEQUENCE)
        slots = [int(s) for s in slots]
        if not slots:
            raise ValueError("a sequence needs at least one slot")
        for s in slots:
            self._check_slot(s)
        max_len = (self.info.max_frame - smp.OVERHEAD - 2) // 2
        if len(slots) > max_len:
            raise ValueError(f"sequence of {len(slots)} steps exceeds the board's {max_len}")
        self.request(MsgType.SEQ_DEFINE, SeqDefine(tuple(slots)).pack())

    def define_random_sequence(self, base_slot: int, layer: int, seed: int) -> None:
        """A never-ending sequence: step k shows ``base_slot`` with ``layer`` replaced by
        ``smp.random_layer_codes(seed, [k], ...)`` (k = 0 at start), so the host knows every step's
        pattern without sending it."""
        self._require(Feature.RANDOM_SEQUENCE)
        self._check_slot(base_slot)
        if not 0 <= layer < self.info.layers:
            raise ValueError(f"layer {layer} does not exist: the board has {self.info.layers} layers")
        if not 0 <= seed < 2**64:
            raise ValueError("seed must fit in 64 bits")
        self.request(MsgType.SEQ_RANDOM, SeqRandom(base_slot, layer, seed).pack())

    def random_sequence_codes(self, base: np.ndarray, layer: int, seed: int, steps) -> np.ndarray:
        """(len(steps), L, rows, cols) patterns a random sequence shows at ``steps`` (host side)."""
        return smp.random_sequence_patterns(
            np.asarray(base).reshape(self.info.shape), layer, seed, steps, self.info.bits
        )

    def arm_sequence(self, mode: SequenceMode = SequenceMode.HOST, loop: bool = False, period_s: float = 0.0) -> None:
        mode = SequenceMode(mode)
        self._require(
            {
                SequenceMode.HOST: Feature.HOST_SEQUENCE,
                SequenceMode.TRIGGER: Feature.TRIGGER,
                SequenceMode.TIMER: Feature.TIMER,
            }[mode]
        )
        period_us = int(round(period_s * 1e6))
        if mode == SequenceMode.TIMER and not 1 <= period_us <= 0xFFFFFFFF:
            raise ValueError("timer sequences need a period between 1 us and ~71 min")
        self.request(MsgType.SEQ_ARM, SeqArm(int(mode), int(loop), period_us).pack())

    def arm_trigger(self, loop: bool = False) -> None:
        """Arm the defined sequence to step on the board's trigger input (one step per pulse)."""
        self.arm_sequence(SequenceMode.TRIGGER, loop)

    def arm_timer(self, period_s: float, loop: bool = False) -> None:
        """Arm the defined sequence to step on the board's timer every ``period_s``."""
        self.arm_sequence(SequenceMode.TIMER, loop, period_s)

    def start_sequence(self) -> int:
        return self._reply(SeqPosition, self.request(MsgType.SEQ_START)).position

    def step_sequence(self) -> int:
        return self._reply(SeqPosition, self.request(MsgType.SEQ_STEP)).position

    def step_sequence_many(self, count: int) -> list[int]:
        """Send ``count`` host steps pipelined; returns the position each step reported."""
        self._raise_if_reset()
        replies = self.transact([(MsgType.SEQ_STEP, b"")] * count, reply_size=16)
        self._raise_if_reset()
        return [self._reply(SeqPosition, r.body).position for r in replies]

    def stop_sequence(self) -> int:
        return self._reply(SeqPosition, self.request(MsgType.SEQ_STOP)).position
