"""Designs on the multiport SIM model ([4] SIM in the nonlinear regime): the near-field localization example
and its reproduction."""
