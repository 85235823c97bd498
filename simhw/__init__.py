"""simhw: hardware-in-the-loop control and calibration for stacked intelligent metasurfaces."""

from .api import Bench, open_bench
from .geometry import AntennaArray, ErrorDraw, FabricationErrors, SimGeometry
from .impairments import Impairments, PhaseDependentAmplitude, coupling_matrix, quantize_phases
from .model import GradientResult, SIMModel
from .phase_config import PhaseConfig, PhaseConfigError
from .propagation import Cascade, cascade_matrices, radar, rayleigh_sommerfeld

__version__ = "0.1.0"

__all__ = [
    "AntennaArray", "Bench", "Cascade", "ErrorDraw", "FabricationErrors", "GradientResult", "Impairments",
    "PhaseConfig", "PhaseConfigError", "PhaseDependentAmplitude", "SIMModel", "SimGeometry",
    "cascade_matrices", "coupling_matrix", "open_bench", "quantize_phases", "radar", "rayleigh_sommerfeld",
]
