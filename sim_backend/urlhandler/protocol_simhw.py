"""pyserial handler for ``simhw://NAME``: a port onto an in-process simulated board
(:class:`sim_backend.inproc_endpoint.InprocEndpoint`). Importing ``sim_backend.inproc_endpoint``
registers this package with pyserial."""

from __future__ import annotations

import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from sim_backend.inproc_endpoint import lookup

__all__ = ["Serial"]


class Serial(SerialBase):
    """A serial port whose far end is a simulated firmware in this process."""

    def __init__(self, *args, **kwargs):
        self._endpoint = None
        self._token = 0
        super().__init__(*args, **kwargs)

    def open(self):
        if self.is_open:
            raise SerialException("port is already open")
        parts = urllib.parse.urlsplit(self.port or "")
        if parts.scheme != "simhw" or not parts.netloc:
            raise SerialException(f"expected simhw://NAME, got {self.port!r}")
        try:
            self._endpoint = lookup(parts.netloc)
        except KeyError:
            raise SerialException(
                f"no simulated board {parts.netloc!r} runs in this process "
                "(simhw:// boards are only reachable from the process that started them)"
            ) from None
        self._token = self._endpoint.attach()
        self.is_open = True

    def close(self):
        self.is_open = False
        self._endpoint = None
        super().close()

    def _reconfigure_port(self, *args, **kwargs):
        pass

    def _far_end(self):
        if not self.is_open or self._endpoint is None or not self._endpoint.running:
            raise PortNotOpenError()
        return self._endpoint

    @property
    def in_waiting(self):
        return self._far_end().waiting(self._token)

    def read(self, size=1):
        return self._far_end().read(self._token, size, self._timeout)

    def write(self, data):
        data = bytes(data)
        self._far_end().write(self._token, data)
        return len(data)

    def reset_input_buffer(self):
        self._far_end().discard(self._token)

    def reset_output_buffer(self):
        self._far_end()

    def flush(self):
        self._far_end()
