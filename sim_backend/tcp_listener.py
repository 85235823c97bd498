"""A TCP listener for the simulated instruments' servers: accept on a thread, one thread per client,
at most ``max_clients`` clients (more are closed at once, as an instrument out of sessions refuses
them), every connection closed at stop. The protocol is the caller's ``serve(conn)``.

``MAX_INPUT`` bounds what a server buffers of one unfinished message, as an instrument's input
buffer does: past it the server closes the connection instead of growing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

__all__ = ["TCPListener", "MAX_INPUT", "MAX_CLIENTS"]

MAX_INPUT = 4 << 20  # bytes of one unfinished message a simulated instrument holds
MAX_CLIENTS = 32  # connections a simulated instrument serves at once


class TCPListener:
    """Listen on ``host:port`` (0: a free port) and run ``serve(conn)`` for every client on its own thread.

    ``serve`` returns when its client is done; the listener closes the connection afterwards. The
    connections have TCP_NODELAY and a 0.1 s receive timeout, so a ``serve`` loop sees ``stopping``.
    """

    def __init__(
        self,
        serve: Callable[[socket.socket], None],
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "sim-tcp",
        max_clients: int = MAX_CLIENTS,
    ):
        self.serve, self.host, self.port, self.name = serve, host, port, name
        self.max_clients = max_clients
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TCPListener:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.host, self.port))
        except OSError:
            s.close()
            raise
        s.listen(8)
        s.settimeout(0.1)
        self._listener = s
        self.port = s.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"{self.name}-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def drop_all(self) -> None:
        """Close every client connection (a disconnect fault); the listener stays."""
        with self._lock:
            for c in list(self._conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping.set()
        self.drop_all()
        for t in self._threads:
            t.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                full = len(self._conns) >= self.max_clients
                if not full:
                    self._conns.add(conn)
            if full:
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.1)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _run(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def receive(self, conn: socket.socket) -> bytes | None:
        """The next bytes from ``conn``: b"" while nothing came (keep waiting), None once it closed or at stop."""
        if self.stopping.is_set():
            return None
        try:
            data = conn.recv(65536)
        except TimeoutError:
            return b""
        return data or None
