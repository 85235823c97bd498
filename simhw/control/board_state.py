"""What the board shows, as a fact the bench service checks against the board, not a cache.

The daemon remembers the configuration of its last verified push together with the board's own
report of what it latched then (:class:`~drivers.board.Latched`: active-pattern CRC, boot id,
latch count). Before a push is skipped as already shown, and before and after every
measurement, the board is asked again (one STATUS). A board that rebooted (a BOOT event or a new
boot id) or latched something else no longer shows that configuration: the memory is cleared,
the change is stored and published as an event, the next push of any configuration is applied,
and a measurement taken meanwhile is labelled with what the board really showed, and flagged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from drivers.board import BoardResetError, BoardStatus, Latched
from drivers.capabilities import LatchReport
from simhw.control.topics import Topic
from simhw.values.phase_config import PhaseConfig

__all__ = ["BoardState", "UNEXPECTED", "CHANGED_DURING_SWEEP"]

log = logging.getLogger("simhw.daemon")

UNEXPECTED = "board showed another pattern"  # labelled with what the board read back
CHANGED_DURING_SWEEP = "board changed during the sweep"  # labelled unknown


class BoardState:
    def __init__(self, bench):
        self.bench = bench
        self.hash: str | None = None  # the configuration the board was last verified to show
        self.latched: Latched | None = None  # what the board reported when it was verified
        self.changes = 0  # board changes recorded so far
        self.status: BoardStatus | None = None  # the board's STATUS at the last report

    def forget(self) -> None:
        self.hash = self.latched = None

    def now(self) -> Latched:
        """The board's report of what it shows; a reset it reports is recorded and published first."""
        try:
            now, self.status = self.bench.board.latched_status()
        except BoardResetError as e:
            self.reset_seen(str(e))
            now, self.status = self.bench.board.latched_status()
        return now

    def reset_seen(self, reason: str) -> None:
        """The board rebooted: nothing it showed before is shown now."""
        self.changed(Topic.BOARD_RESET, {"reason": reason})

    def changed(self, kind: str, data: dict) -> None:
        self.changes += 1
        if self.hash is not None:
            data = {**data, "was": self.hash}
        self.forget()
        log.warning(json.dumps({"event": kind, **data}, default=str))
        self.bench.record(kind, data)

    def verified(self, hash_: str) -> None:
        """A push of ``hash_`` was just verified by readback: remember it with the board's latch report."""
        board = self.bench.board
        lat = board.last_latched if isinstance(board, LatchReport) else None
        self.hash, self.latched = hash_, lat if lat is not None else self.now()

    def restore(self, hash_: str, after: str) -> bool:
        """Show ``hash_`` again, verified by readback, after the daemon itself showed other patterns (a
        check's reference configurations, a calibration's pilots); the restore, or why it failed, is an
        event in the store and on telemetry. Returns whether the board shows ``hash_`` again."""
        d = self.bench
        try:
            d.apply(d.store.get_config(hash_))
        except Exception as e:  # noqa: BLE001 - the board or the store failed: recorded, the next push re-applies
            data = {"hash": hash_, "after": after, "error": f"{type(e).__name__}: {e}"}
            log.warning(json.dumps({"event": "config_not_restored", **data}))
            d.record(Topic.CONFIG_NOT_RESTORED, data)
            return False
        d.record(Topic.CONFIG_RESTORED, {"hash": hash_, "after": after})
        return True

    def shows(self, hash_: str) -> bool:
        """Whether the board still shows ``hash_`` (asks the board when that is what it last showed)."""
        if self.hash != hash_ or self.latched is None:
            return False
        seen = self.changes
        now = self.now()
        if now != self.latched:
            self._record(seen, self.latched, now)
            return False
        return True

    def _record(self, seen: int, expected: Latched, now: Latched, **detail) -> None:
        """Record that the board moved from ``expected`` to ``now``, unless now() already recorded it (a
        reset the board itself reported)."""
        if self.changes == seen:
            kind = Topic.BOARD_RESET if now.boot_id != expected.boot_id else Topic.BOARD_CHANGED
            self.changed(kind, {"expected": asdict(expected), "board": asdict(now), **detail})
        self.forget()

    def label(self) -> tuple[str | None, str | None, Latched]:
        """(hash, flag, report) for a measurement about to start: the verified configuration if the board
        still shows it, else the hash of what the board reads back, flagged."""
        expected, seen = (self.hash, self.latched), self.changes
        now = self.now()
        if self.hash is not None and now == self.latched:
            return self.hash, None, now
        if expected[0] is not None and expected[1] is not None:
            self._record(seen, expected[1], now)
        board = self.bench.board
        shown = PhaseConfig(board.read_active(), board.info.bits, name="board readback")
        self.bench.store.put_config(shown)
        self.hash, self.latched = shown.hash, now  # verified by that readback
        return shown.hash, UNEXPECTED if expected[0] is not None else None, now

    def confirm(self, before: Latched, hash_: str | None, flag: str | None) -> tuple[str | None, str | None]:
        """After the sweep: a board that changed while it ran makes the label unknown."""
        seen = self.changes
        after = self.now()
        if after == before:
            return hash_, flag
        self._record(seen, before, after, during="sweep")
        return None, CHANGED_DURING_SWEEP
