"""Byte links to boards: the :class:`Link` contract every board driver talks through, and
:class:`SerialLink`, pyserial's ``serial_for_url`` with timeouts, reconnection and one lock.

Any URL pyserial understands works: ``/dev/ttyUSB0``, ``/dev/pts/7``, ``socket://127.0.0.1:5000``,
``loop://``, ``simhw://`` (a simulated board in the same process). The link never interprets bytes;
protocol codecs sit above it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import serial

from drivers.board import BoardConnectionError, BoardInfo

__all__ = ["Link", "CountingLink", "SerialLink", "SerialBoardMixin", "make_link"]


@runtime_checkable
class Link(Protocol):
    """What a board driver needs of its byte link: open and close it, write bytes, read whatever arrived
    (waiting briefly), drop stale input; ``lock`` is held around each whole transaction, ``byte_time`` is
    the seconds one byte takes on the wire (0 without a UART)."""

    @property
    def url(self) -> str: ...

    @property
    def byte_time(self) -> float: ...

    @property
    def lock(self) -> threading.RLock: ...

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read_some(self) -> bytes: ...

    def discard_input(self) -> None: ...


@runtime_checkable
class CountingLink(Link, Protocol):
    """A :class:`Link` that counts the bytes written (``bytes_out``): what an SMP board's uploads report."""

    @property
    def bytes_out(self) -> int: ...


class SerialLink:
    """A reconnecting byte link. ``lock`` is held by drivers around each whole transaction."""

    def __init__(
        self,
        url: str,
        baudrate: int = 115200,
        read_timeout: float = 0.002,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.05,
        uart_baudrate: int = 0,
    ):
        """``uart_baudrate``: the rate of a UART behind a ``socket://`` bridge, which paces the link."""
        self.url = url
        self.baudrate = baudrate
        self.uart_baudrate = uart_baudrate
        self.read_timeout = read_timeout
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff = reconnect_backoff
        self.lock = threading.RLock()
        self._port = None
        self.bytes_out = 0
        self.bytes_in = 0
        self.reconnects = 0

    @property
    def byte_time(self) -> float:
        """Seconds one byte takes on the wire (8N1: 10 bit times): the port's baud rate, the UART's behind a
        ``socket://`` bridge, 0 for other links with no UART."""
        if self.url.startswith("socket://"):
            return 10.0 / self.uart_baudrate if self.uart_baudrate else 0.0
        return 10.0 / self.baudrate if self.baudrate and not self.url.startswith("loop://") else 0.0

    def open(self) -> None:
        if self.is_open:
            return
        try:
            self._port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=self.read_timeout,
                write_timeout=2.0,
                exclusive=True if "://" not in self.url else None,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            busy = "lock" in str(exc).lower()  # pyserial: "Could not exclusively lock port ..."
            raise BoardConnectionError(
                f"cannot open {self.url}: "
                + ("it is in use by another process (one driver per board)" if busy else str(exc))
            ) from None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    @property
    def is_open(self) -> bool:
        return self._port is not None and self._port.is_open

    def reconnect(self) -> None:
        """Close and re-open with backoff; raises BoardConnectionError when every attempt fails."""
        self.close()
        last = None
        for attempt in range(self.reconnect_attempts):
            time.sleep(self.reconnect_backoff * (2**attempt))
            try:
                self.open()
                self.reconnects += 1
                return
            except BoardConnectionError as exc:
                last = exc
        raise BoardConnectionError(f"link to {self.url} lost and {self.reconnect_attempts} reconnects failed: {last}")

    def _ensure(self):
        if not self.is_open:
            self.reconnect()
        return self._port

    def write(self, data: bytes) -> None:
        for attempt in range(2):
            port = self._ensure()
            try:
                port.write(data)
                self.bytes_out += len(data)
                return
            except (serial.SerialException, OSError) as exc:
                if attempt:
                    raise BoardConnectionError(f"write to {self.url} failed: {exc}") from None
                self.reconnect()

    def read_some(self) -> bytes:
        """Whatever arrived, waiting at most ``read_timeout`` for the first byte.

        A failed read re-opens the link and returns nothing; requests in flight are the caller's
        to resend.
        """
        port = self._ensure()
        try:
            data = port.read(max(1, port.in_waiting))
        except (serial.SerialException, OSError):
            self.reconnect()  # raises BoardConnectionError if the link stays down
            return b""  # callers resend whatever was in flight
        self.bytes_in += len(data)
        return data

    def discard_input(self) -> None:
        port = self._ensure()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass


class SerialBoardMixin:
    """Lifetime of board drivers that talk over a :class:`SerialLink` (or any object with its methods)
    in ``self.link``: nothing is opened at construction; :meth:`open` (or the ``with`` block, or the
    first use of :attr:`info`) opens the link, discards stale input and identifies the board. It never
    changes the board's state.
    """

    link: Link
    _info: BoardInfo | None = None

    if TYPE_CHECKING:  # what the driver supplies, declared for the type checker

        def identify(self) -> BoardInfo: ...

    @property
    def info(self) -> BoardInfo:
        """The board's identity; opens the driver on first use."""
        if self._info is None:
            self.open()
        assert self._info is not None  # open() identified the board, or raised
        return self._info

    @info.setter
    def info(self, value: BoardInfo) -> None:
        self._info = value

    def open(self) -> BoardInfo:
        """Open the link and identify the board; a no-op (returning the identity) once open."""
        if self._info is not None and self.link.is_open:
            return self._info
        self.link.open()
        self.link.discard_input()
        return self.identify()

    def close(self) -> None:
        self.link.close()
        self._info = None


def make_link(url_or_link: str | Link, baudrate: int, uart_baudrate: int = 0, kind: type = Link) -> Link:
    """A :class:`SerialLink` for a pyserial URL, or the link given (a test's scripted link) if it is a ``kind``
    (:class:`Link`, or a Protocol extending it); anything else is a TypeError naming what it lacks."""
    if isinstance(url_or_link, str):
        return SerialLink(url_or_link, baudrate, uart_baudrate=uart_baudrate)
    if not isinstance(url_or_link, kind):
        protocols = [c for c in kind.__mro__ if c is Link or Link in c.__mro__]
        members = {
            n for c in protocols for n, v in vars(c).items() if n[0] != "_" and (callable(v) or isinstance(v, property))
        }
        missing = [m for m in members if not hasattr(url_or_link, m)]
        raise TypeError(
            f"a board link is a pyserial URL or a {kind.__name__}, not {type(url_or_link).__name__}"
            + (f" (it has no {', '.join(sorted(missing))})" if missing else "")
        )
    return url_or_link
