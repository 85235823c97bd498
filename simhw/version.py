"""The software version, recorded with every bench snapshot."""

__version__ = "0.1.0"
