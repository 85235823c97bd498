"""The SIM as a multiport network with linear or nonlinear cells (seed 003)."""

from simhw.physics.multiport.model import ConvergenceError, FixedPointReport, MultiportSIM, RappCell

__all__ = ["MultiportSIM", "RappCell", "ConvergenceError", "FixedPointReport"]
