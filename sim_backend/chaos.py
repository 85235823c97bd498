"""Faults injected into a running simulated bench at random times (for soak tests).

Rates are per hour of wall time, drawn from a seeded generator as a Poisson process:
``vna_stalls`` (the next *OPC? stays silent for ``stall_s``, longer than the driver's timeout),
``vna_drops`` (every VNA connection is closed), ``clock_jumps`` (simulated time jumps by
U(-10 min, +60 min)). Byte errors and board resets live in the serial endpoint's
:class:`~sim_backend.serial_endpoint.Faults`. Every injected fault is logged on stderr as one
JSON line ``{"event": "chaos", "fault": ...}`` and counted in :attr:`Chaos.counts`.
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np

__all__ = ["Chaos"]


class Chaos:
    def __init__(
        self,
        bench,
        vna_stalls: float = 0.0,
        vna_drops: float = 0.0,
        clock_jumps: float = 0.0,
        stall_s: float = 8.0,
        seed: int | None = None,
    ):
        self.bench = bench
        self.rates = {"vna_stall": vna_stalls, "vna_drop": vna_drops, "clock_jump": clock_jumps}
        self.stall_s = stall_s
        self.rng = np.random.default_rng(seed)
        self.counts = {k: 0 for k in self.rates}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return any(r > 0 for r in self.rates.values())

    def start(self) -> Chaos:
        if self.active:
            self._thread = threading.Thread(target=self._run, name="sim-chaos", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        total = sum(self.rates.values()) / 3600.0
        kinds = list(self.rates)
        p = np.array([self.rates[k] for k in kinds]) / (total * 3600.0)
        while not self._stop.wait(float(self.rng.exponential(1.0 / total))):
            kind = kinds[int(self.rng.choice(len(kinds), p=p))]
            detail = self._inject(kind)
            self.counts[kind] += 1
            print(json.dumps({"event": "chaos", "fault": kind, **detail}), file=sys.stderr, flush=True)

    def _inject(self, kind: str) -> dict:
        b = self.bench
        if kind == "vna_stall" and b.vna is not None:
            b.vna.stall_next_opc = self.stall_s
            return {"seconds": self.stall_s}
        if kind == "vna_drop" and b.server is not None:
            b.server.drop_all()
            return {}
        if kind == "clock_jump":
            jump = float(self.rng.uniform(-600.0, 3600.0))
            b.clock.advance(jump)
            return {"seconds": jump}
        return {}
