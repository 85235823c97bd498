"""pyserial URL handlers of the simulated bench (pyserial finds ``protocol_<scheme>`` modules here)."""
