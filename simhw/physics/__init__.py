"""Physics: the SIM's geometry, propagation, impairments, cascade model, losses and multiport network.

Pure numpy/scipy, no I/O (docs/physics.md, sec. 1-3; the multiport network: sec. 7 and [4] SIM in the
nonlinear regime).
"""
