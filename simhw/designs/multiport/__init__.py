"""Designs on the multiport SIM model (seed 003): the near-field localization example and its reproduction."""
