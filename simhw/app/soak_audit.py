"""The soak's content audit: what the store says, checked against what the simulated hardware did.

- Every stored measurement that names a configuration must be what the true SIM predicts for that
  configuration, within the receiver noise (a measurement labelled with a configuration the board
  did not show differs by far more: it is counted as mislabelled).
- Every acknowledged push must appear in the simulated boards' latch log (simulation.latch_log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drivers.smp import pattern_crc
from sim_backend.bench import make_truth
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig

__all__ = ["ContentAudit", "audit_content", "MATCH_NMSE_DB"]

MATCH_NMSE_DB = -20.0  # a label the data agree with; a wrong configuration gives about 0 dB (or worse)


@dataclass
class ContentAudit:
    checked: int = 0
    unknown: int = 0  # stored without a label (the board changed during the sweep)
    flagged: int = 0  # labelled with what the board showed instead of the last push
    mislabelled: list = field(default_factory=list)  # (measurement id, NMSE dB against its label's prediction)
    unlatched: list = field(default_factory=list)  # acknowledged pushes no board ever latched
    worst_match_db: float = -np.inf  # the largest NMSE of a measurement that matched its label
    median_match_db: float = np.nan


def audit_content(store: Store, config: BenchConfig, pushes: dict[int, str], latch_log: Path) -> ContentAudit:
    """``pushes``: push id -> hash of every push a client was told was acknowledged."""
    truth = make_truth(config)
    bits = config.geometry.bits
    out = ContentAudit()
    matches = []
    for (mid,) in store._all("SELECT id FROM measurements ORDER BY id"):
        m = store.get_measurement(mid)
        if m["hash"] is None:
            out.unknown += 1
            continue
        out.checked += 1
        out.flagged += m["flag"] is not None
        predicted = truth.response(store.get_config(m["hash"]).codes, bits, m["frequencies"])
        nmse = 10 * np.log10(np.sum(np.abs(m["s"] - predicted) ** 2) / np.sum(np.abs(predicted) ** 2))
        if nmse > MATCH_NMSE_DB:
            out.mislabelled.append((mid, float(nmse)))
        else:
            matches.append(nmse)
    if matches:
        out.worst_match_db, out.median_match_db = float(np.max(matches)), float(np.median(matches))
    latched = {line.split()[1] for line in latch_log.read_text().splitlines() if len(line.split()) == 3}
    for pid, h in pushes.items():
        if f"{pattern_crc(store.get_config(h).codes, bits):08x}" not in latched:
            out.unlatched.append(pid)
    return out
