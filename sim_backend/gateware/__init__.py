"""SMP in gateware: a synthesizable board side of the protocol (docs/gateware.md), in Amaranth HDL.

:class:`~sim_backend.gateware.top.SMPGateware` is the design (UART, COBS and CRC-32 framing, the
frame executor, double-buffered pattern RAM, shift-register outputs, a debounced trigger);
:class:`~sim_backend.gateware.cosim.GatewareFirmware` runs it in Amaranth's simulator behind the
same byte interface as the Python firmware, so the unmodified driver talks to it through a
``simhw://`` port.
"""
