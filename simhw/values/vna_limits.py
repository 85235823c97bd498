"""What a VNA can do: frequency, point, IF bandwidth, power and port limits.

Each model's are in :mod:`simhw.values.vna_models`; the drivers (:mod:`drivers.vna`) check every
setting against them before it is sent, and the simulated instruments (:mod:`sim_backend.vna`)
refuse what the real ones refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VNALimits"]


@dataclass(frozen=True)
class VNALimits:
    f_min: float
    f_max: float
    max_points: int = 100001
    ifbw_min: float = 1.0
    ifbw_max: float = 15e6
    power_min: float = -90.0
    power_max: float = 20.0
    ports: int = 4
