"""Driver for multi-layer SIM boards speaking SMP (docs/protocol.md) over any pyserial URL.

A thin pump between the link and the sans-I/O host engine (:mod:`drivers.smp_host`), which owns
sequence numbers, the window, retries, BUSY backoff and boot-id tracking. The engine resends a
request whose reply is late with the same sequence number; the board answers a repeated number
from its reply cache without executing it again, so a retry after a lost reply is harmless. After
``retries`` resends :class:`BoardTimeout` is raised. A changed boot id raises
:class:`BoardResetError` once: the board lost its patterns and the caller must know.

Constructing the driver does no I/O; :meth:`open`, its ``with`` block or the first use opens the
link and identifies the board. ``link`` may be a pyserial URL or a link object (a test's script),
and ``clock`` the time source the engine is fed.
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Callable

import numpy as np

from drivers import smp
from drivers.board import (
    Board,
    BoardCapabilityError,
    BoardInfo,
    BoardRefused,
    BoardResetError,
    BoardStatus,
    BoardTimeout,
    BoardVerifyError,
    Latched,
    PushBatch,
    check_config_fits,
)
from drivers.features import Feature
from drivers.sequence import SequenceState
from drivers.smp import MsgType, NakCode, SMPMessage
from drivers.smp_host import HostEngine
from drivers.smp_messages import (
    BodyError,
    BodyT,
    Commit,
    Hello,
    HelloInfo,
    Latch,
    Nak,
    Read,
    StatusInfo,
    WatchdogBody,
    Write,
)
from drivers.smp_slots import SlotsAndSequences
from drivers.transport import CountingLink, SerialBoardMixin, make_link
from simhw.values.phase_config import PhaseConfig

__all__ = ["SMPBoard"]


class SMPBoard(SerialBoardMixin, SlotsAndSequences, Board):
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

    # ------------------------------------------------------------------ patterns
    def _writes(self, codes: np.ndarray) -> tuple[list[tuple[int, bytes]], int]:
        """The WRITE requests that fill the shadow with ``codes``, and the pattern CRC COMMIT expects.

        The pattern is bit-packed once; a span that starts and ends on a byte boundary (or ends
        the pattern) is a slice of it, any other span is packed on its own."""
        flat, bits = codes.reshape(-1), self.info.bits
        packed = smp.pack_codes(flat, bits)
        reqs: list[tuple[int, bytes]] = []
        start = 0
        for layer, off, cnt in self._spans:
            lo, hi = start * bits, (start + cnt) * bits
            if lo % 8 == 0 and (hi % 8 == 0 or start + cnt == flat.size):
                data = packed[lo // 8 : (hi + 7) // 8]
            else:
                data = smp.pack_codes(flat[start : start + cnt], bits)
            reqs.append((MsgType.WRITE, Write(layer, off, cnt, data).pack()))
            start += cnt
        return reqs, zlib.crc32(packed)

    def write(self, config: PhaseConfig) -> None:
        check_config_fits(config, self.info)
        self._raise_if_reset()
        writes, crc = self._writes(config.codes)
        self.transact(writes, reply_size=16)
        self._raise_if_reset()
        self._shadow_crc = crc

    def commit(self, expected_crc: int | None = None) -> int:
        crc = self._shadow_crc if expected_crc is None else expected_crc
        if crc is None:
            raise BoardRefused("nothing written since the driver connected: write() before commit()")
        body = self.request(MsgType.COMMIT, Commit(crc).pack())
        return self._reply(Latch, body).active_crc

    def push(self, config: PhaseConfig, verify: bool = True, attempts: int = 3) -> str:
        """Write, commit with the expected CRC, and verify the active pattern by readback.

        With ``verify`` the three steps go out as one pipelined batch (see :meth:`push_many`). A
        COMMIT refused for a CRC mismatch (a WRITE got lost or garbled) rewrites the whole shadow.
        """
        check_config_fits(config, self.info)
        if verify:
            batch = self.push_many([config], attempts=attempts)
            if batch.error is not None:
                raise batch.error
            return config.hash
        for attempt in range(attempts):
            self.write(config)
            try:
                self.commit()
                break
            except BoardRefused as exc:
                if exc.code != NakCode.CRC_MISMATCH or attempt == attempts - 1:
                    raise
        return config.hash

    def _read_requests(self, bank: int) -> tuple[list, list]:
        self.open()  # a no-op once open: identifying the board sets the spans
        spans = self._spans
        return [(MsgType.READ, Read(bank, *span).pack()) for span in spans], spans

    def _decode_read(self, spans: list, replies: list[SMPMessage]) -> np.ndarray:
        parts = [smp.unpack_codes(rep.body, cnt, self.info.bits) for (_, _, cnt), rep in zip(spans, replies)]
        return np.concatenate(parts).astype(np.uint16).reshape(self.info.shape)

    def push_many(self, configs: list[PhaseConfig], attempts: int = 3) -> PushBatch:
        """Push ``configs`` in order with the bytes of consecutive pushes pipelined on the link.

        Each push is WRITEs + COMMIT(expected CRC) + READs of the active bank, all in one window;
        the board executes frames in order, so each push's readback shows what its COMMIT latched.
        A push counts only if its COMMIT was acknowledged and its readback equals its codes. At the
        first push that fails, everything after it is discarded; that push is retried alone, then the
        rest is pipelined again. A resent frame can land out of order: the COMMIT's CRC catches a
        mixed shadow, the readback a wrong latch, and the latch counts (which must rise from push to
        push) a whole push that latched late; so the board ends on the last verified push.
        Returns how many were verified and the error that stopped it.
        """
        for cfg in configs:
            check_config_fits(cfg, self.info)
        reads, spans = self._read_requests(1)
        done, failures = 0, 0
        while done < len(configs):
            todo = configs[done : done + 1] if failures else configs[done:]  # after a failure, that push alone
            reqs: list[tuple[int, bytes]] = []
            layout: list[tuple[int, int]] = []
            crcs: list[int] = []
            for cfg in todo:
                writes, crc = self._writes(cfg.codes)
                crcs.append(crc)
                layout.append((len(reqs) + len(writes), len(reqs) + len(writes) + 1))
                reqs += writes + [(MsgType.COMMIT, Commit(crc).pack())] + reads
            try:
                self._raise_if_reset()
                replies = self.transact(reqs, reply_size=self.info.max_frame, raise_nak=False)
                self._raise_if_reset()
            except Exception as e:  # noqa: BLE001 - the caller gets the count and the reason
                return PushBatch(done, e)
            last_latch = -1  # latch counts of accepted pushes must rise: a late resent push would show
            for cfg, crc, (commit_at, read_at) in zip(todo, crcs, layout):
                commit = replies[commit_at]
                error: BoardRefused | BoardVerifyError | None = None
                if commit.type == MsgType.NAK:
                    code = Nak.code_of(commit.body)
                    error = BoardRefused(str(smp.NakError(MsgType.COMMIT, code)), code)
                else:
                    back = replies[read_at : read_at + len(reads)]
                    try:  # a reply that passed the CRC can still have a body of the wrong layout
                        latched = self._reply(Latch, commit.body)
                        active = self._decode_read(spans, back) if all(r.type == MsgType.ACK for r in back) else None
                    except (BoardRefused, ValueError) as e:
                        return PushBatch(done, BoardRefused(f"malformed reply to push {cfg.hash[:12]}: {e}"))
                    latch = latched.latch_count
                    if active is None or not np.array_equal(active, cfg.codes):
                        bad = "unreadable" if active is None else f"{np.count_nonzero(active != cfg.codes)} atoms"
                        error = BoardVerifyError(f"readback after push differs ({bad}, config {cfg.hash[:12]})")
                    elif latch <= last_latch:  # an earlier push's frames arrived late and latched after this one
                        error = BoardVerifyError(f"push {cfg.hash[:12]} was latched out of order")
                    last_latch = max(last_latch, latch)
                if error is None:
                    self._shadow_crc = crc
                    assert self.engine.boot_id is not None  # noted from HELLO when the board was opened
                    self.last_latched = Latched(latched.active_crc, self.engine.boot_id, latch)
                    done += 1
                    failures = 0
                    continue
                failures += 1
                recoverable = isinstance(error, BoardVerifyError) or error.code == NakCode.CRC_MISMATCH
                if failures >= attempts or not recoverable:
                    return PushBatch(done, error)
                break
        return PushBatch(done, None)

    def _read(self, bank: int) -> np.ndarray:
        reqs, spans = self._read_requests(bank)
        self._raise_if_reset()
        replies = self.transact(reqs, reply_size=self.info.max_frame)
        self._raise_if_reset()
        return self._decode_read(spans, replies)

    def read_shadow(self) -> np.ndarray:
        return self._read(0)

    def read_active(self) -> np.ndarray:
        return self._read(1)


def _state_label(state: int) -> str:
    try:
        return SequenceState(state).label
    except ValueError:
        return "?"
