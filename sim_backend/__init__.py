"""The simulated bench: a "true" SIM with errors and drift, simulated board firmware and VNA."""
