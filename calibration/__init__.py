"""Calibration protocols and estimators for SIM propagation models."""
