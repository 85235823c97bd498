"""The Board interface every metasurface board driver implements, and its errors.

The rest of simhw (daemon, calibration, trainers) sees boards only through this interface. A board
holds a *shadow* pattern (written in pieces) and an *active* pattern (what the meta-atoms show);
``commit`` latches shadow into active for all layers at once. Slots are stored patterns; a
sequence steps through slots on host command, on a hardware trigger or on a timer.

Connecting to a board never changes its state: drivers only identify it on open.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from drivers.features import Feature
from drivers.sequence import SequenceMode
from drivers.smp import pattern_crc
from simhw.values.phase_config import PhaseConfig

__all__ = [
    "Board",
    "BoardInfo",
    "BoardStatus",
    "SequenceMode",
    "BoardError",
    "BoardTimeout",
    "BoardConnectionError",
    "BoardResetError",
    "BoardVerifyError",
    "BoardCapabilityError",
    "BoardRefused",
    "Latched",
    "PushBatch",
    "check_config_fits",
]


class BoardError(RuntimeError):
    """Base of every board error."""


class BoardTimeout(BoardError):
    """The board did not answer in time (after retries)."""


class BoardConnectionError(BoardError):
    """The link to the board is down and could not be re-opened."""


class BoardResetError(BoardError):
    """The board rebooted since it was last seen: its active pattern, slots and sequence are gone."""


class BoardVerifyError(BoardError):
    """Readback after a push does not match what was pushed."""


class BoardCapabilityError(BoardError):
    """The board cannot do what was asked (e.g. trigger sequences on a board without a trigger input)."""


class BoardRefused(BoardError):
    """The board answered with an error (NAK) to a well-formed request."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BoardInfo:
    """What identify() reports: enough to check a PhaseConfig fits before anything is written."""

    model: str
    serial: str
    firmware: str
    protocol: str
    layers: int
    rows: int
    cols: int
    bits: int
    slots: int
    max_frame: int = 0
    boot_id: int = 0
    features: Feature = Feature.all()  # what the board reports it can do (drivers.capabilities.capable)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.layers, self.rows, self.cols)


@dataclass(frozen=True)
class BoardStatus:
    """Health and state snapshot. Counters the board does not have are None."""

    boot_id: int
    uptime_s: float | None
    temperature_c: float | None
    supply_v: float | None
    active_crc: int | None
    latch_count: int | None
    crc_errors: int | None
    framing_errors: int | None
    overruns: int | None
    seq_state: str
    seq_position: int
    seq_steps: int
    seq_missed: int
    safe_mode: bool
    slot_crcs: tuple  # per slot: CRC-32 of the stored pattern, or None if empty


def check_config_fits(config: PhaseConfig, info: BoardInfo) -> None:
    """Raise a clear ValueError if ``config`` cannot be shown by a board described by ``info``."""
    if not isinstance(config, PhaseConfig):
        raise TypeError(f"expected a PhaseConfig, got {type(config).__name__}")
    if config.shape != info.shape:
        raise ValueError(
            f"config shape {config.shape} does not match board {info.serial} shape {info.shape} (layers, rows, cols)"
        )
    if config.bits != info.bits:
        raise ValueError(f"config has {config.bits}-bit codes, board {info.serial} takes {info.bits}-bit codes")


@dataclass(frozen=True)
class Latched:
    """What a board reports it shows: the active pattern's CRC-32 (SMP's ``pattern_crc``), the boot id
    and the latch count (None where the board keeps none). Two reads that differ mean the board
    changed in between: it rebooted, or latched something else."""

    crc: int
    boot_id: int
    latches: int | None


@dataclass(frozen=True)
class PushBatch:
    """Outcome of :meth:`Board.push_many`: the first ``done`` configs are shown and verified."""

    done: int
    error: Exception | None


class Board(abc.ABC):
    """What every metasurface board does (real or simulated, single or composite).

    Optional features (slots, host/trigger/timer sequences, random sequences, pipelined pushes, a
    watchdog) are the Protocols of :mod:`drivers.capabilities`. Constructing a driver does no I/O:
    :meth:`open` (or entering its ``with`` block) connects and identifies the board, and a driver
    used before that opens itself on first use.
    """

    if TYPE_CHECKING:  # read by users; a driver stores it (identify) or composes it (a property)

        @property
        def info(self) -> BoardInfo: ...

    # -- lifetime
    @abc.abstractmethod
    def open(self) -> BoardInfo:
        """Connect and identify the board; never changes its state."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    # -- identity and health
    @abc.abstractmethod
    def identify(self) -> BoardInfo: ...

    @abc.abstractmethod
    def status(self) -> BoardStatus: ...

    @abc.abstractmethod
    def reset(self) -> BoardInfo:
        """Reboot the board, wait until it is ready, and return its new identity."""

    # -- patterns
    @abc.abstractmethod
    def write(self, config: PhaseConfig) -> None:
        """Write ``config`` into the shadow buffer (nothing changes on the surface yet)."""

    @abc.abstractmethod
    def commit(self) -> int | None:
        """Latch the shadow buffer into the active pattern of all layers at once; returns the active pattern's
        CRC-32 where the board reports it (SMP's LATCH), else None."""

    @abc.abstractmethod
    def read_shadow(self) -> np.ndarray: ...

    @abc.abstractmethod
    def read_active(self) -> np.ndarray: ...

    def push(self, config: PhaseConfig, verify: bool = True) -> str:
        """Write, commit and (by default) verify by reading the active pattern back; returns the hash."""
        check_config_fits(config, self.info)
        self.write(config)
        self.commit()
        if verify:
            self.verify_active(config)
        return config.hash

    def latched(self) -> Latched:
        """The board's own report of what it shows now (one STATUS, and a readback where STATUS has no CRC)."""
        return self.latched_status()[0]

    def latched_status(self) -> tuple[Latched, BoardStatus]:
        """:meth:`latched` and the STATUS it was read from (its temperature, counters)."""
        st = self.status()
        crc = st.active_crc if st.active_crc is not None else pattern_crc(self.read_active(), self.info.bits)
        return Latched(crc, st.boot_id, st.latch_count), st

    def verify_active(self, config: PhaseConfig) -> None:
        """Read the active pattern back; raise BoardVerifyError if it is not ``config``."""
        active = self.read_active()
        if not np.array_equal(active, config.codes):
            bad = int(np.count_nonzero(active != config.codes))
            raise BoardVerifyError(f"readback after push differs in {bad} atoms (config {config.hash[:12]})")
