"""A trigger cable between simulated devices: one device's trigger output, another's trigger input.

The sending device calls :meth:`TriggerLine.pulse` with the time of each pulse and what it had just
done (the simulated board: the codes it latched), and a receiving instrument reads the pulses that
arrived since it was armed (:meth:`TriggerLine.since`). Devices whose timers run lazily (the
simulated board's sequencer steps when it is next asked) register an ``advance(now)`` callable,
called before the pulses are read, so every pulse up to ``now`` is on the line with its exact
time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TriggerLine"]


class TriggerLine:
    """Pulses in time order: (time, what the sender latched with it, or None)."""

    def __init__(self, keep: int = 1 << 16, horizon: float = 300.0):
        """``keep`` pulses at most, none older than ``horizon`` seconds (an armed sweep reads them sooner)."""
        self._pulses: deque[tuple[float, object]] = deque(maxlen=keep)
        self.horizon = horizon
        self._advance: list[Callable[[float], object]] = []
        self._lock = threading.Lock()

    def attach(self, advance: Callable[[float], object]) -> None:
        """``advance(now)`` brings a lazily-timed sender up to ``now`` (its pulses land on the line)."""
        self._advance.append(advance)

    def pulse(self, t: float, state: object = None) -> None:
        with self._lock:
            self._pulses.append((t, state))
            while self._pulses[0][0] < t - self.horizon:
                self._pulses.popleft()

    def since(self, t0: float, now: float | None = None) -> list[tuple[float, object]]:
        """The pulses at or after ``t0``, up to ``now``, in time order."""
        now = time.monotonic() if now is None else now
        for advance in self._advance:
            advance(now)
        with self._lock:
            return sorted((p for p in self._pulses if t0 <= p[0] <= now), key=lambda p: p[0])
