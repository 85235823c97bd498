"""A SIM assembled from several boards: layer l of the SIM is driven by one member board.

How a lab builds a SIM from single-layer RIS boards. Members must share rows, cols and bit
depth; their layer counts add up. Writes go to every member's shadow first, then commits run
member by member, so the layers switch within one commit round (not atomically across boards:
boards have no common latch line unless a trigger is wired to all of them).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import numpy as np

from drivers.board import Board, BoardCapabilityError, BoardInfo, BoardStatus, SequenceMode, check_config_fits
from drivers.capabilities import HostSequencer, SlotStore, TimerSequencer, TriggerSequencer, upload_slots
from simhw.values.phase_config import PhaseConfig

__all__ = ["CompositeBoard"]


class CompositeBoard(Board):
    """Slots and host-stepped sequences over the members; trigger- and timer-stepped ones only when every
    member has them (then the board is a :class:`TriggeredCompositeBoard`)."""

    def __new__(cls, boards: Sequence[Board]):
        if (
            cls is CompositeBoard
            and boards
            and all(isinstance(b, TriggerSequencer) and isinstance(b, TimerSequencer) for b in boards)
        ):
            cls = TriggeredCompositeBoard
        return super().__new__(cls)

    def __init__(self, boards: Sequence[Board]):
        if not boards:
            raise ValueError("a composite board needs at least one member board")
        self.boards = list(boards)
        self._info: BoardInfo | None = None

    @property
    def info(self) -> BoardInfo:
        """The composite's identity; opens the members on first use."""
        if self._info is None:
            self.open()
        assert self._info is not None  # open() composed it, or raised
        return self._info

    def open(self) -> BoardInfo:
        """Open every member (those already open stay as they are) and check they make one SIM."""
        infos = [b.open() for b in self.boards]
        first = infos[0]
        for i in infos[1:]:
            if (i.rows, i.cols, i.bits) != (first.rows, first.cols, first.bits):
                raise ValueError(
                    f"member {i.serial} is {i.rows}x{i.cols} {i.bits}-bit, member {first.serial} is "
                    f"{first.rows}x{first.cols} {first.bits}-bit: members must match"
                )
        self._info = self._compose()
        return self._info

    def _compose(self) -> BoardInfo:
        infos = [b.info for b in self.boards]
        return BoardInfo(
            "composite",
            "+".join(i.serial for i in infos),
            "/".join(i.firmware for i in infos),
            "/".join(sorted({i.protocol for i in infos})),
            sum(i.layers for i in infos),
            infos[0].rows,
            infos[0].cols,
            infos[0].bits,
            min(i.slots for i in infos),
            0,
            hash(tuple(i.boot_id for i in infos)) & 0xFFFFFFFF,
            functools.reduce(operator.and_, (i.features for i in infos)),
        )

    def _split(self, config: PhaseConfig) -> list[PhaseConfig]:
        check_config_fits(config, self.info)
        parts, start = [], 0
        for b in self.boards:
            n = b.info.layers
            parts.append(PhaseConfig(config.codes[start : start + n], config.bits, name=config.name))
            start += n
        return parts

    def identify(self) -> BoardInfo:
        for b in self.boards:
            b.identify()
        self._info = self._compose()
        return self._info

    def status(self) -> BoardStatus:
        sts = [b.status() for b in self.boards]
        first = sts[0]

        def total(name):
            vals = [getattr(s, name) for s in sts]
            return None if any(v is None for v in vals) else sum(vals)

        temps = [s.temperature_c for s in sts if s.temperature_c is not None]
        return BoardStatus(
            self.info.boot_id,
            None,
            max(temps) if temps else None,
            None,
            None,
            total("latch_count"),
            total("crc_errors"),
            total("framing_errors"),
            total("overruns"),
            first.seq_state,
            first.seq_position,
            first.seq_steps,
            sum(s.seq_missed for s in sts),
            any(s.safe_mode for s in sts),
            (),
        )

    def reset(self) -> BoardInfo:
        for b in self.boards:
            b.reset()
        self._info = self._compose()
        return self._info

    def write(self, config: PhaseConfig) -> None:
        for b, part in zip(self.boards, self._split(config)):
            b.write(part)

    def commit(self) -> None:
        for b in self.boards:
            b.commit()

    def read_shadow(self) -> np.ndarray:
        return np.concatenate([b.read_shadow() for b in self.boards])

    def read_active(self) -> np.ndarray:
        return np.concatenate([b.read_active() for b in self.boards])

    def _slot_stores(self) -> list[SlotStore]:
        """The members, each of which must store slots."""
        stores: list[SlotStore] = [b for b in self.boards if isinstance(b, SlotStore)]
        if len(stores) < len(self.boards):
            raise BoardCapabilityError("not every member board stores slots")
        return stores

    def _sequencers(self) -> list[HostSequencer]:
        """The members, each of which must run sequences."""
        sequencers: list[HostSequencer] = [b for b in self.boards if isinstance(b, HostSequencer)]
        if len(sequencers) < len(self.boards):
            raise BoardCapabilityError("not every member board runs sequences")
        return sequencers

    def store_slot(self, slot: int, config: PhaseConfig) -> bool:
        return any([b.store_slot(slot, part) for b, part in zip(self._slot_stores(), self._split(config))])

    def upload_slots(self, configs: dict[int, PhaseConfig]) -> int:
        return upload_slots(self, configs)

    def load_slot(self, slot: int) -> None:
        for b in self._slot_stores():
            b.load_slot(slot)

    def define_sequence(self, slots: list[int]) -> None:
        for b in self._sequencers():
            b.define_sequence(slots)

    def arm_sequence(self, mode: SequenceMode = SequenceMode.HOST, loop: bool = False, period_s: float = 0.0) -> None:
        mode = SequenceMode(mode)
        if mode != SequenceMode.HOST and not isinstance(self, TriggerSequencer):
            raise BoardCapabilityError("not every member board has a trigger input/timer: host-stepped sequences only")
        for b in self._sequencers():
            b.arm_sequence(mode, loop, period_s)

    def start_sequence(self) -> int:
        return [b.start_sequence() for b in self._sequencers()][0]

    def step_sequence(self) -> int:
        return [b.step_sequence() for b in self._sequencers()][0]

    def stop_sequence(self) -> int:
        return [b.stop_sequence() for b in self._sequencers()][0]

    def close(self) -> None:
        for b in self.boards:
            b.close()


class TriggeredCompositeBoard(CompositeBoard):
    """A composite whose members all step sequences on a trigger input and on a timer."""

    def arm_trigger(self, loop: bool = False) -> None:
        self.arm_sequence(SequenceMode.TRIGGER, loop)

    def arm_timer(self, period_s: float, loop: bool = False) -> None:
        self.arm_sequence(SequenceMode.TIMER, loop, period_s)
