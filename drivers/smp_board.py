"""Driver for multi-layer SIM boards speaking SMP (docs/protocol.md) over any pyserial URL.

A thin pump between the link and the sans-I/O host engine (:mod:`drivers.smp_host`), which owns
sequence numbers, the window, retries, BUSY backoff and boot-id tracking. The engine resends a
request whose reply is late with the same sequence number; the board answers a repeated number
from its reply cache without executing it again, so a retry after a lost reply is harmless. After
``retries`` resends :class:`BoardTimeout` is raised. A changed boot id raises
:class:`BoardResetError` once: the board lost its patterns and the caller must know.

Constructing the driver does no I/O; :meth:`open`, its ``with`` block or the first use opens the
link and identifies the board. ``link`` may be a pyserial URL or a link object (a test's script),
and ``clock`` the time source the engine is fed. Pattern transfer (WRITE, COMMIT, READ, pushes) is
:mod:`drivers.smp_patterns`, slots and sequences :mod:`drivers.smp_slots`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from drivers import smp
from drivers.board import (
    Board,
    BoardCapabilityError,
    BoardInfo,
    BoardRefused,
    BoardResetError,
    BoardStatus,
    BoardTimeout,
    Latched,
)
from drivers.features import Feature
from drivers.sequence import SequenceState
from drivers.smp import MsgType, NakCode, SMPMessage
from drivers.smp_host import HostEngine
from drivers.smp_messages import (
    BodyError,
    BodyT,
    Hello,
    HelloInfo,
    Nak,
    StatusInfo,
    WatchdogBody,
)
from drivers.smp_patterns import PatternTransfer
from drivers.smp_slots import SlotsAndSequences
from drivers.transport import CountingLink, SerialBoardMixin, make_link

__all__ = ["SMPBoard"]


class SMPBoard(SerialBoardMixin, SlotsAndSequences, PatternTransfer, Board):
    """A board speaking SMP. ``link`` is anything ``serial.serial_for_url`` opens, or a link object."""

    link: CountingLink

    def __init__(
        self,
        link,
        baudrate: int = 921600,
        timeout: float = 0.1,
        retries: int = 6,
        backoff: float = 0.01,
        window: int = 16,
        clock: Callable[[], float] = time.monotonic,
        first_seq: int | None = None,
        session: int | None = None,
        uart_baudrate: int = 0,
    ):
        counting = make_link(link, baudrate, uart_baudrate, kind=CountingLink)
        assert isinstance(counting, CountingLink)  # make_link returns a link of the kind asked for, or raises
        self.link = counting
        self.clock = clock
        self.engine = HostEngine(
            int(time.monotonic_ns()) if first_seq is None else first_seq,
            window,
            timeout,
            retries,
            backoff,
            self.link.byte_time,
            name=self.link.url,
        )
        self._shadow_crc: int | None = None  # CRC of the last pattern written, what COMMIT expects
        self._spans: list[tuple[int, int, int]] = []  # (layer, offset, count) of each frame, set by identify()
        self.last_latched: Latched | None = None  # what the COMMIT of the last verified push reported
        # this host's session (HELLO): the board answers no request of it from another session's replies
        self.session = secrets.randbits(32) if session is None else session

    # the engine's settings, settable on the driver
    timeout = property(lambda self: self.engine.timeout, lambda self, v: setattr(self.engine, "timeout", v))
    retries = property(lambda self: self.engine.retries, lambda self, v: setattr(self.engine, "retries", v))
    backoff = property(lambda self: self.engine.backoff, lambda self, v: setattr(self.engine, "backoff", v))
    window = property(lambda self: self.engine.window, lambda self, v: setattr(self.engine, "window", v))

    @property
    def stats(self) -> dict:
        return self.engine.stats

    @property
    def events(self) -> list[SMPMessage]:
        return self.engine.events

    # ------------------------------------------------------------------ plumbing
    def _raise_if_reset(self) -> None:
        msg = self.engine.take_reset()
        if msg:
            raise BoardResetError(msg)

    def transact(
        self, requests: list[tuple[int, bytes]], reply_size: int = 64, raise_nak: bool = True
    ) -> list[SMPMessage]:
        """Send requests (type, body) through the window and return their replies in order.

        A NAK raises :class:`BoardRefused` (after the whole batch settled, so nothing is left in
        flight); silence after all retries raises :class:`BoardTimeout`.
        """
        eng = self.engine
        with self.link.lock:
            eng.start(requests, reply_size)
            while not eng.done:
                out = eng.data_to_send(self.clock())
                if out:
                    self.link.write(out)
                data = self.link.read_some()
                eng.receive_data(data, self.clock())
            replies, sent = eng.replies(), eng.requests()
        for req, rep in zip(sent, replies):
            if rep.type == MsgType.NAK and raise_nak:
                code = Nak.code_of(rep.body)
                detail = Nak.unpack(rep.body).detail if len(rep.body) == Nak.S.size else 0
                self._raise_if_reset()
                raise BoardRefused(str(smp.NakError(MsgType(req.type), code, detail)), code)
        return replies

    def request(self, mtype: int, body: bytes = b"", reply_size: int = 64) -> bytes:
        self._raise_if_reset()
        reply = self.transact([(mtype, body)], reply_size)[0]
        self._raise_if_reset()
        return reply.body

    def _reply(self, cls: type[BodyT], body: bytes) -> BodyT:
        """A reply body unpacked as ``cls``; a body of the wrong layout is the board's error, said clearly."""
        try:
            return cls.unpack(body)
        except BodyError as e:
            raise BoardRefused(f"malformed reply from {self.engine.name}: {e}") from None

    # ------------------------------------------------------------------ identity and health
    def identify(self) -> BoardInfo:
        """HELLO: who the board is and what it can do. A board of an older SMP version answers NAK
        BAD_VERSION with its version; the driver then speaks that version (version 1: no capability
        field, every feature taken as present, no host session)."""
        for _ in range(2):
            hello = Hello(self.session).pack() if self.engine.version >= 2 else b""
            reply = self.transact([(MsgType.HELLO, hello)], raise_nak=False)[0]
            if reply.type != MsgType.NAK or Nak.code_of(reply.body) != NakCode.BAD_VERSION:
                break
            theirs = Nak.unpack(reply.body).detail if len(reply.body) == Nak.S.size else 0
            if theirs not in smp.VERSIONS or theirs == self.engine.version:
                raise BoardRefused(f"board speaks SMP version {theirs}, this driver speaks {smp.VERSIONS}")
            self.engine.version = theirs
        if reply.type == MsgType.NAK:
            raise BoardRefused(str(smp.NakError(MsgType.HELLO, Nak.code_of(reply.body))), Nak.code_of(reply.body))
        h = self._reply(HelloInfo, reply.body)
        if h.protocol != self.engine.version:
            raise BoardRefused(f"board answered HELLO of version {self.engine.version} with version {h.protocol}")
        if not (1 <= h.bits <= 16 and h.layers and h.rows and h.cols) or smp.write_capacity(h.max_frame, h.bits) < 1:
            raise BoardRefused(
                f"board {h.serial!r} describes itself impossibly: {h.layers} x {h.rows} x {h.cols} "
                f"atoms of {h.bits} bits, frames of at most {h.max_frame} bytes"
            )
        self.engine.note_boot_id(h.boot_id, "HELLO")
        self.engine.name = h.serial or self.engine.name
        self.info = BoardInfo(
            "SMP SIM board",
            h.serial,
            h.firmware,
            f"SMP/{h.protocol}",
            h.layers,
            h.rows,
            h.cols,
            h.bits,
            h.slots,
            h.max_frame,
            h.boot_id,
            h.features,
        )
        cap = smp.write_capacity(h.max_frame, h.bits)
        total = h.layers * h.rows * h.cols
        # spans run across layers (docs/protocol.md), so a small SIM's pattern is one frame
        self._spans = [
            (start // (h.rows * h.cols), start % (h.rows * h.cols), min(cap, total - start))
            for start in range(0, total, cap)
        ]
        return self.info

    def status(self) -> BoardStatus:
        slots = self._info.slots if self._info else 0
        s = self._reply(StatusInfo, self.request(MsgType.STATUS, reply_size=80 + 5 * slots))
        self.engine.note_boot_id(s.boot_id, "STATUS")
        self._raise_if_reset()
        return BoardStatus(
            s.boot_id,
            s.uptime_ms / 1000,
            s.temperature_c,
            None,
            s.active_crc,
            s.latch_count,
            s.crc_errors,
            s.framing_errors,
            s.overruns,
            _state_label(s.seq_state),
            s.seq_position,
            s.seq_steps,
            s.seq_missed,
            s.safe_mode,
            tuple(sl.crc if sl.valid else None for sl in s.slots),
        )

    def reset(self, ready_timeout: float = 5.0) -> BoardInfo:
        self._raise_if_reset()
        old = self.engine.boot_id
        self.transact([(MsgType.RESET, b"")])  # a fast board's EVENT BOOT may come with the ACK: expected here
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            try:
                info = self.identify()
            except BoardTimeout:
                continue
            if info.boot_id != old:
                self.engine.forget_reset()
                return info
            time.sleep(0.01)
        raise BoardTimeout(f"board did not come back within {ready_timeout} s after RESET")

    def _require(self, feature: Feature) -> None:
        """The driver uses only what the board reports (HELLO's capability field)."""
        if not self.info.features & feature:
            raise BoardCapabilityError(
                f"board {self.info.serial} reports no {(feature.name or str(feature)).lower()} "
                f"support (its features: {self.info.features!r})"
            )

    def set_watchdog(self, timeout_s: float) -> None:
        """Show the safe pattern if no frame arrives for ``timeout_s`` (0 disables)."""
        self._require(Feature.WATCHDOG)
        ms = int(round(timeout_s * 1000))
        if not 0 <= ms <= 0xFFFF:
            raise ValueError("watchdog timeout must be within 0..65.535 s")
        self.request(MsgType.WATCHDOG, WatchdogBody(ms).pack())

    def ping(self) -> None:
        self.request(MsgType.PING)


def _state_label(state: int) -> str:
    try:
        return SequenceState(state).label
    except ValueError:
        return "?"
