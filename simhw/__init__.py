"""simhw: hardware-in-the-loop control and calibration for stacked intelligent metasurfaces.

The names here are the physics and value types most scripts start from, and ``open_bench``. The
lower layers import this package on the way to their own modules, so ``open_bench`` (the
application layer, which imports every layer) is loaded on first use rather than here.
"""

from simhw.physics.geometry import AntennaArray, ErrorDraw, FabricationErrors, SimGeometry
from simhw.physics.impairments import Impairments, PhaseDependentAmplitude, coupling_matrix, quantize_phases
from simhw.physics.model import GradientResult, SIMModel
from simhw.physics.propagation import Cascade, cascade_matrices, radar, rayleigh_sommerfeld
from simhw.values.phase_config import PhaseConfig, PhaseConfigError
from simhw.version import __version__

__all__ = [
    "AntennaArray",
    "Bench",
    "Cascade",
    "ErrorDraw",
    "FabricationErrors",
    "GradientResult",
    "Impairments",
    "PhaseConfig",
    "PhaseConfigError",
    "PhaseDependentAmplitude",
    "SIMModel",
    "SimGeometry",
    "__version__",
    "cascade_matrices",
    "coupling_matrix",
    "open_bench",
    "quantize_phases",
    "radar",
    "rayleigh_sommerfeld",
]

_APP_NAMES = {"Bench", "open_bench"}


def __getattr__(name: str):
    if name in _APP_NAMES:
        from simhw.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'simhw' has no attribute {name!r}")
