"""The simulated VNA's raw SCPI socket (port 5025 on real instruments): one thread per client.

Bytes in, program messages (ended by a newline) to the instrument, each response message out
with one newline, as the instruments' socket servers do; loopback by default.
"""

from __future__ import annotations

import socket
import time

from sim_backend.tcp_listener import MAX_INPUT, TCPListener
from sim_backend.vna import SimVNA

__all__ = ["VNAServer"]


class VNAServer:
    """Serve a :class:`SimVNA` on a TCP port, one thread per client (loopback by default)."""

    def __init__(self, instrument: SimVNA, host: str = "127.0.0.1", port: int = 0):
        self.instrument = instrument
        self.listener = TCPListener(self._serve, host, port, "sim-vna")

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def resource(self) -> str:
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def start(self) -> VNAServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.instrument.abort()  # a client waiting for trigger events must not hold the shutdown
        self.listener.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def drop_all(self) -> None:
        """Close every client connection (a disconnect fault)."""
        self.listener.drop_all()

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        session = self.instrument.session()
        while (data := self.listener.receive(conn)) is not None:
            if not data:
                continue
            if hasattr(socket, "TCP_QUICKACK"):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            buf += data
            if len(buf) > MAX_INPUT and b"\n" not in buf:
                return  # an unterminated message past the input buffer: the connection is dropped
            while b"\n" in buf:
                idx = buf.index(b"\n")
                line = bytes(buf[:idx]).decode("latin-1").strip("\r")
                del buf[: idx + 1]
                if self.instrument.drop_next:
                    self.instrument.drop_next = False
                    return
                reply, stall = session.message(line)
                if stall:
                    end = time.monotonic() + stall
                    while time.monotonic() < end and not self.listener.stopping.is_set():
                        time.sleep(0.01)
                if reply is not None:
                    conn.sendall(reply + b"\n")
