"""Hardware abstraction: board and VNA interfaces, wire-protocol codecs, transports and drivers."""
