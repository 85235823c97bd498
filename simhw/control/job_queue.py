"""The daemon's queue of hardware jobs: one lane per client, served round-robin.

Each client's jobs run in the order it sent them; between clients the turn goes round, one job
each, so a client with hundreds of jobs queued delays another client's next job by at most one of
its own. A lane is keyed by the requester's routing id (jobs without a requester share one lane).
``None`` asks the worker to stop once every lane is empty.
"""

from __future__ import annotations

import collections
import threading

__all__ = ["FairQueue"]


def _client(job) -> bytes:
    return job.ident[0] if job.ident else b""


class FairQueue:
    """Thread-safe; the loop puts, the worker (or the loop, for pushes) takes with the hardware lock held."""

    def __init__(self):
        self._lock = threading.Lock()
        self._lanes: collections.OrderedDict = collections.OrderedDict()  # client -> deque of jobs, next turn first
        self._stop = False

    def put(self, job) -> None:
        with self._lock:
            if job is None:
                self._stop = True
            else:
                self._lanes.setdefault(_client(job), collections.deque()).append(job)

    def head(self):
        """The job whose turn is next, without taking it (None: no job is queued)."""
        with self._lock:
            return next(iter(self._lanes.values()))[0] if self._lanes else None

    def take(self):
        """Take the next job and pass the turn to the next client; None to stop (every lane empty and a stop
        was asked); False when nothing is queued."""
        with self._lock:
            if not self._lanes:
                return None if self._stop else False
            return self._take()

    def take_while(self, predicate, limit: int) -> list:
        """Take jobs in turn while the next one satisfies ``predicate``, at most ``limit`` (one batch)."""
        with self._lock:
            batch: list = []
            while len(batch) < limit and self._lanes and predicate(next(iter(self._lanes.values()))[0]):
                batch.append(self._take())
            return batch

    def _take(self):
        client, lane = next(iter(self._lanes.items()))
        job = lane.popleft()
        del self._lanes[client]
        if lane:
            self._lanes[client] = lane  # to the back: every other client's turn comes first
        return job

    def remove(self, predicate) -> list:
        """Take every queued job for which ``predicate(job)`` holds, whatever its turn."""
        with self._lock:
            out: list = []
            for client in list(self._lanes):
                kept: collections.deque = collections.deque()
                for j in self._lanes[client]:
                    (out if predicate(j) else kept).append(j)
                if kept:
                    self._lanes[client] = kept
                else:
                    del self._lanes[client]
            return out

    def queued(self, client: bytes) -> int:
        """How many jobs ``client`` has waiting."""
        with self._lock:
            return len(self._lanes.get(client, ()))

    def snapshot(self) -> list:
        """Every queued job (in no particular order)."""
        with self._lock:
            return [j for lane in self._lanes.values() for j in lane]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(lane) for lane in self._lanes.values())
