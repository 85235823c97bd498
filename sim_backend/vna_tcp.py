"""The simulated VNA's raw SCPI socket (port 5025 on real instruments): one thread per client.

Bytes in, program messages (ended by a newline) to the instrument, each response message out
with one newline, as the instruments' socket servers do; loopback by default.
"""

from __future__ import annotations

import socket
import threading
import time

from sim_backend.vna import SimVNA

__all__ = ["VNAServer"]


class VNAServer:
    """Serve a :class:`SimVNA` on a TCP port, one thread per client (loopback by default)."""

    def __init__(self, instrument: SimVNA, host: str = "127.0.0.1", port: int = 0):
        self.instrument = instrument
        self.host, self.port = host, port
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def resource(self) -> str:
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def start(self) -> "VNAServer":
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, self.port))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"sim-vna-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.drop_all()
        for t in self._threads:
            t.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def drop_all(self) -> None:
        """Close every client connection (a disconnect fault)."""
        with self._lock:
            for c in list(self._conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.1)
            with self._lock:
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        session = self.instrument.session()
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if hasattr(socket, "TCP_QUICKACK"):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    idx = buf.index(b"\n")
                    line = bytes(buf[:idx]).decode("latin-1").strip("\r")
                    del buf[:idx + 1]
                    if self.instrument.drop_next:
                        self.instrument.drop_next = False
                        return
                    reply, stall = session.message(line)
                    if stall:
                        end = time.monotonic() + stall
                        while time.monotonic() < end and not self._stop.is_set():
                            time.sleep(0.01)
                    if reply is not None:
                        conn.sendall(reply + b"\n")
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

