"""The host side of SMP as a sans-I/O engine, in the manner of h11's Connection (docs/protocol.md).

The engine never touches a port or a clock. :class:`SMPBoard` pumps it: it hands it a batch of
requests, writes what :meth:`HostEngine.data_to_send` returns, feeds what the link read to
:meth:`HostEngine.receive_data`, and passes the time in with every call. The engine keeps:

* sequence numbers, kept by each request across its retries (the board answers a repeated
  sequence number from its reply cache, so a retry after a lost reply is harmless);
* the window of at most ``window`` requests in flight;
* deadlines: a request whose reply is late is resent (the same bytes) up to ``retries`` times,
  then :class:`~drivers.board.BoardTimeout` is raised; a garbled frame on the wire makes every
  request in flight due soon. The wait is ``timeout`` or four times the smoothed round trip of
  requests answered at the first try, whichever is longer (after TCP's retransmission timer), so
  a slow link or a busy host does not turn late replies into a storm of resends;
* BUSY: a NAK BUSY pushes that request's deadline back by ``backoff * 2**attempts``;
* the board's boot id: a HELLO or STATUS with a new one is a reset, and so is any BOOT event once the
  board is known (a board without an entropy source boots with the same id), reported once by
  :meth:`HostEngine.take_reset`;
* stale replies (a sequence number not in flight) are counted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.board import BoardTimeout
from drivers.smp import (
    PROTOCOL_VERSION,
    EventKind,
    FrameDecoder,
    FrameError,
    MsgType,
    NakCode,
    SMPMessage,
    encode_frame,
)
from drivers.smp_messages import BodyError, Event, Nak

__all__ = ["HostEngine", "Pending"]


@dataclass
class Pending:
    msg: SMPMessage
    frame: bytes
    deadline: float
    sent: float = 0.0
    attempts: int = 1
    reply: SMPMessage | None = None


class HostEngine:
    """SMP host state machine. ``byte_time`` is the seconds one byte takes on the link (0: no UART)."""

    def __init__(
        self,
        first_seq: int = 0,
        window: int = 16,
        timeout: float = 0.1,
        retries: int = 6,
        backoff: float = 0.01,
        byte_time: float = 0.0,
        resend_grace: float = 0.002,
        name: str = "board",
        max_frame: int = 65535,
    ):
        self.window, self.timeout, self.retries, self.backoff = window, timeout, retries, backoff
        self.byte_time, self.resend_grace, self.name = byte_time, resend_grace, name
        self._seq = first_seq & 0xFFFF
        self._decoder = FrameDecoder(max_frame)
        self._todo: list[tuple[int, bytes]] = []
        self._next = 0
        self._reply_size = 64
        self._waiting: dict[int, Pending] = {}
        self._order: list[Pending] = []
        self._resend: list[bytes] = []
        self.version = PROTOCOL_VERSION  # what new frames carry; a version-1 board makes it 1 (SMPBoard.identify)
        self.boot_id: int | None = None
        self._reset: str | None = None
        self.events: list[SMPMessage] = []
        self.stats = {"retries": 0, "bad_frames": 0, "stale": 0, "bad_events": 0}
        self.srtt: float | None = None  # smoothed round-trip time of requests answered at the first try

    # ------------------------------------------------------------------ batches
    def start(self, requests: list[tuple[int, bytes]], reply_size: int = 64) -> None:
        """Begin a batch of (type, body) requests; their replies come back in this order."""
        if not self.done:
            raise RuntimeError("a batch is still in flight")
        self._todo, self._next, self._reply_size = list(requests), 0, reply_size
        self._waiting, self._order = {}, []

    @property
    def done(self) -> bool:
        return self._next >= len(self._todo) and not self._waiting

    def replies(self) -> list[SMPMessage]:
        """The batch's replies (ACK or NAK) in request order, once :attr:`done`."""
        if not self.done:
            raise RuntimeError("the batch is not complete")
        replies = []
        for p in self._order:
            assert p.reply is not None  # done: every request of the batch has its reply
            replies.append(p.reply)
        return replies

    def requests(self) -> list[SMPMessage]:
        """The batch's requests as sent (with their sequence numbers)."""
        return [p.msg for p in self._order]

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _reply_time(self, req_len: int) -> float:
        wait = max(self.timeout, 4.0 * self.srtt) if self.srtt is not None else self.timeout
        return wait + (req_len + self._reply_size + 8) * self.byte_time

    def _measured(self, rtt: float) -> None:
        """A round trip of a request sent once (Karn's rule: a resent one's reply could answer either
        copy). The smoothed time, times four, stretches the wait on a slow link or a busy host, so a
        late reply is waited for instead of answered by a storm of resends; ``timeout`` stays the floor."""
        self.srtt = rtt if self.srtt is None else 0.875 * self.srtt + 0.125 * rtt

    # ------------------------------------------------------------------ time and bytes
    def data_to_send(self, now: float) -> bytes:
        """New frames that fit the window, then any request whose deadline passed (resent as it was).

        Raises BoardTimeout for a request already sent ``retries`` + 1 times."""
        out = bytearray()
        while self._next < len(self._todo) and len(self._waiting) < self.window:
            mtype, body = self._todo[self._next]
            msg = SMPMessage(mtype, self.next_seq(), body, self.version)
            frame = encode_frame(msg)
            p = Pending(msg, frame, now + self._reply_time(len(out) + len(frame)), now)
            self._waiting[msg.seq] = p
            self._order.append(p)
            out += frame
            self._next += 1
        for p in self._waiting.values():
            if now < p.deadline:
                continue
            if p.attempts > self.retries:
                self._decoder.reset()
                self._todo, self._waiting = [], {}
                raise BoardTimeout(
                    f"no reply to {MsgType(p.msg.type).name} (seq {p.msg.seq}) from {self.name} "
                    f"after {p.attempts} attempts"
                )
            self.stats["retries"] += 1
            p.attempts += 1
            p.deadline = now + self._reply_time(len(p.frame)) + self.backoff * p.attempts
            out += p.frame
        return bytes(out)

    def next_deadline(self) -> float | None:
        """When :meth:`data_to_send` next has something to resend (None: nothing in flight)."""
        return min((p.deadline for p in self._waiting.values()), default=None)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the board: replies are matched to requests in flight, events noted."""
        for item in self._decoder.feed(data) if data else ():
            garbled = isinstance(item, FrameError) or (
                item.type == MsgType.EVENT and item.body[:1] == bytes([EventKind.FRAME_ERROR])
            )
            if garbled:  # a request or a reply was corrupted on the wire: resend soon
                self.stats["bad_frames"] += 1
                for waiting in self._waiting.values():
                    waiting.deadline = min(waiting.deadline, now + self.resend_grace)
            if isinstance(item, FrameError):
                continue
            if item.type == MsgType.EVENT:
                self._on_event(item)
                continue
            p = self._waiting.get(item.seq)
            if p is None or item.type not in (MsgType.ACK, MsgType.NAK):
                self.stats["stale"] += 1
                continue
            if item.type == MsgType.NAK and Nak.code_of(item.body) == NakCode.BUSY:
                p.deadline = now + self.backoff * (2**p.attempts)
                continue
            p.reply = item
            del self._waiting[item.seq]
            if p.attempts == 1:
                self._measured(now - p.sent)

    # ------------------------------------------------------------------ resets
    def _on_event(self, msg: SMPMessage) -> None:
        try:
            ev = Event.unpack(msg.body)
        except BodyError:
            self.stats["bad_events"] += 1
            return
        self.events.append(msg)
        del self.events[:-64]
        if ev.kind == EventKind.BOOT:
            self.note_boot_id(ev.boot_id, "BOOT event", booted=True)

    def note_boot_id(self, boot_id: int, where: str, booted: bool = False) -> None:
        """The board reported ``boot_id`` (in HELLO, STATUS or a BOOT event); a change is a reset, and so is any
        report that it ``booted`` once it is known (a board without an entropy source repeats its id)."""
        if self.boot_id is not None and (booted or boot_id != self.boot_id):
            ids = (
                f"{self.boot_id:#010x} -> {boot_id:#010x}" if boot_id != self.boot_id else f"{boot_id:#010x} unchanged"
            )
            self._reset = (
                f"board {self.name} rebooted (boot id {ids}, seen in {where}): active pattern, slots and "
                f"sequence were lost"
            )
        self.boot_id = boot_id

    def take_reset(self) -> str | None:
        """The description of a reset seen since the last call, once; None if there was none."""
        msg, self._reset = self._reset, None
        return msg

    def forget_reset(self) -> None:
        self._reset = None
