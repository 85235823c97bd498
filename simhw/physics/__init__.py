"""Physics: the SIM's geometry, propagation, impairments, cascade model, losses and multiport network.

Pure numpy/scipy, no I/O (PHYSICS.md sections 1-3; seed 003 for the multiport network).
"""
