"""What a VNA family can do: frequency, point, IF bandwidth, power and port limits.

Shared by the drivers (:mod:`drivers.vna`), which check every setting against them before it is
sent, and by the simulated instruments (:mod:`sim_backend.vna_server`), which refuse what the
real ones refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VNALimits", "FAMILY_LIMITS"]


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


FAMILY_LIMITS = {"keysight": VNALimits(10e6, 67e9), "rs": VNALimits(10e6, 43.5e9)}
