"""The SIM as a multiport network with linear or nonlinear cells ([4] SIM in the nonlinear regime)."""

from simhw.physics.multiport.model import ConvergenceError, FixedPointReport, MultiportSIM, RappCell

__all__ = ["MultiportSIM", "RappCell", "ConvergenceError", "FixedPointReport"]
