"""Driver for multi-layer SIM boards speaking SMP (docs/protocol.md) over any pyserial URL.

Requests are sent in a window of up to ``window`` outstanding frames. Each request keeps its
sequence number across retries, and the board answers a repeated sequence number from its reply
cache without executing it again, so a retry after a lost reply is harmless. A request whose reply
does not come in time is resent (same bytes) up to ``retries`` times with backoff, then
:class:`BoardTimeout` is raised. A BOOT event with a new boot id, or a changed boot id in HELLO or
STATUS, raises :class:`BoardResetError` once: the board lost its patterns and the caller must know.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np

from simhw.phase_config import PhaseConfig

from . import smp
from .board import (Board, BoardInfo, BoardRefused, BoardResetError, BoardStatus, BoardTimeout,
                    BoardVerifyError, PushBatch, SequenceMode, check_config_fits)
from .smp import EventKind, FrameDecoder, FrameError, Message, MsgType, NakCode
from .transport import SerialBoardMixin, SerialLink

__all__ = ["SMPBoard"]

_SEQ_STATES = {0: "idle", 1: "armed", 2: "running"}


@dataclass
class _Pending:
    msg: Message
    frame: bytes
    deadline: float
    attempts: int = 1
    reply: Message | None = None


class SMPBoard(SerialBoardMixin, Board):
    """A board speaking SMP. ``url`` is anything ``serial.serial_for_url`` opens."""

    def __init__(self, url: str, baudrate: int = 921600, timeout: float = 0.1, retries: int = 6,
                 backoff: float = 0.01, window: int = 16, open: bool = True):
        self.link = SerialLink(url, baudrate)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.window = window
        self.resend_grace = 0.002
        self._decoder = FrameDecoder(65535)
        self._seq = int(time.monotonic_ns()) & 0xFFFF
        self._boot_id: int | None = None
        self._reset_pending: str | None = None
        self.events: list[Message] = []
        self.stats = {"retries": 0, "bad_frames": 0, "stale": 0}
        self.info: BoardInfo | None = None
        self._shadow_crc: int | None = None  # CRC of the last pattern written, what COMMIT expects
        self._spans: list[tuple[int, int, int]] = []  # (layer, offset, count) of each frame, set by identify()
        if open:
            self.open()

    # ------------------------------------------------------------------ plumbing
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _reply_time(self, req_len: int, reply_len: int) -> float:
        return self.timeout + (req_len + reply_len + 8) * self.link.byte_time

    def _handle_event(self, msg: Message) -> None:
        try:
            kind, boot_id, data = smp.EVENT_BODY.unpack(msg.body)
        except Exception:
            return
        self.events.append(msg)
        del self.events[:-64]
        if kind == EventKind.BOOT:
            self._note_boot_id(boot_id, "BOOT event")

    def _note_boot_id(self, boot_id: int, where: str) -> None:
        if self._boot_id is not None and boot_id != self._boot_id:
            self._reset_pending = (f"board {self.info.serial if self.info else self.link.url} rebooted "
                                   f"(boot id {self._boot_id:#010x} -> {boot_id:#010x}, seen in {where}): "
                                   "active pattern, slots and sequence were lost")
        self._boot_id = boot_id

    def _raise_if_reset(self) -> None:
        if self._reset_pending:
            msg, self._reset_pending = self._reset_pending, None
            raise BoardResetError(msg)

    def transact(self, requests: list[tuple[int, bytes]], reply_size: int = 64, raise_nak: bool = True) -> list[Message]:
        """Send requests (type, body) through the window and return their ACKs in order.

        A NAK raises :class:`BoardRefused` (after the whole batch settled, so nothing is left in
        flight); silence after all retries raises :class:`BoardTimeout`.
        """
        with self.link.lock:
            todo = list(requests)
            waiting: dict[int, _Pending] = {}  # sent, no reply yet
            order: list[_Pending] = []
            nxt = 0
            while nxt < len(todo) or waiting:
                now = time.monotonic()
                burst = bytearray()
                while nxt < len(todo) and len(waiting) < self.window:
                    mtype, body = todo[nxt]
                    msg = Message(mtype, self._next_seq(), body)
                    frame = smp.encode_frame(msg)
                    p = _Pending(msg, frame, now + self._reply_time(len(burst) + len(frame), reply_size))
                    waiting[msg.seq] = p
                    order.append(p)
                    burst += frame
                    nxt += 1
                if burst:
                    self.link.write(bytes(burst))
                data = self.link.read_some()
                now = time.monotonic()
                for item in self._decoder.feed(data) if data else ():
                    garbled = isinstance(item, FrameError) or (
                        item.type == MsgType.EVENT and item.body[:1] == bytes([EventKind.FRAME_ERROR]))
                    if garbled:  # a request or a reply was corrupted on the wire: resend soon
                        self.stats["bad_frames"] += 1
                        for p in waiting.values():
                            p.deadline = min(p.deadline, now + self.resend_grace)
                    if isinstance(item, FrameError):
                        continue
                    if item.type == MsgType.EVENT:
                        self._handle_event(item)
                        continue
                    p = waiting.get(item.seq)
                    if p is None or item.type not in (MsgType.ACK, MsgType.NAK):
                        self.stats["stale"] += 1
                        continue
                    if item.type == MsgType.NAK and _nak_code(item) == NakCode.BUSY:
                        p.deadline = now + self.backoff * (2 ** p.attempts)
                        continue
                    p.reply = item
                    del waiting[item.seq]
                for p in waiting.values():
                    if now >= p.deadline:
                        if p.attempts > self.retries:
                            self._decoder.reset()
                            raise BoardTimeout(f"no reply to {MsgType(p.msg.type).name} (seq {p.msg.seq}) from "
                                               f"{self.link.url} after {p.attempts} attempts")
                        self.stats["retries"] += 1
                        p.attempts += 1
                        p.deadline = now + self._reply_time(len(p.frame), reply_size) + self.backoff * p.attempts
                        self.link.write(p.frame)
            replies = [p.reply for p in order]
        for req, rep in zip(order, replies):
            if rep.type == MsgType.NAK and raise_nak:
                code = _nak_code(rep)
                detail = smp.NAK_BODY.unpack(rep.body)[1] if len(rep.body) == smp.NAK_BODY.size else 0
                self._raise_if_reset()
                raise BoardRefused(str(smp.NakError(MsgType(req.msg.type), code, detail)), code)
        return replies

    def request(self, mtype: int, body: bytes = b"", reply_size: int = 64) -> bytes:
        self._raise_if_reset()
        reply = self.transact([(mtype, body)], reply_size)[0]
        self._raise_if_reset()
        return reply.body

    # ------------------------------------------------------------------ identity and health
    def identify(self) -> BoardInfo:
        body = self.transact([(MsgType.HELLO, b"")])[0].body
        h = smp.HelloInfo.unpack(body)
        if h.protocol != smp.PROTOCOL_VERSION:
            raise BoardRefused(f"board speaks SMP version {h.protocol}, this driver speaks {smp.PROTOCOL_VERSION}")
        self._note_boot_id(h.boot_id, "HELLO")
        self.info = BoardInfo("SMP SIM board", h.serial, h.firmware, f"SMP/{h.protocol}", h.layers, h.rows, h.cols,
                              h.bits, h.slots, h.max_frame, h.boot_id,
                              frozenset({"shadow", "slots", "sequence", "trigger", "timer", "watchdog",
                                         "random_sequence"}))
        cap = smp.write_capacity(h.max_frame, h.bits)
        total = h.layers * h.rows * h.cols
        # spans run across layers (docs/protocol.md), so a small SIM's pattern is one frame
        self._spans = [(start // (h.rows * h.cols), start % (h.rows * h.cols), min(cap, total - start))
                       for start in range(0, total, cap)]
        return self.info

    def status(self) -> BoardStatus:
        s = smp.StatusInfo.unpack(self.request(MsgType.STATUS, reply_size=80 + 5 * (self.info.slots if self.info else 0)))
        self._note_boot_id(s.boot_id, "STATUS")
        self._raise_if_reset()
        return BoardStatus(s.boot_id, s.uptime_ms / 1000, s.temperature_c, None, s.active_crc, s.latch_count,
                           s.crc_errors, s.framing_errors, s.overruns, _SEQ_STATES.get(s.seq_state, "?"),
                           s.seq_position, s.seq_steps, s.seq_missed, s.safe_mode,
                           tuple(sl.crc if sl.valid else None for sl in s.slots))

    def reset(self, ready_timeout: float = 5.0) -> BoardInfo:
        self.request(MsgType.RESET)
        deadline = time.monotonic() + ready_timeout
        old = self._boot_id
        while time.monotonic() < deadline:
            try:
                info = self.identify()
            except BoardTimeout:
                continue
            if info.boot_id != old:
                self._reset_pending = None
                return info
            time.sleep(0.01)
        raise BoardTimeout(f"board did not come back within {ready_timeout} s after RESET")

    def set_watchdog(self, timeout_s: float) -> None:
        """Show the safe pattern if no frame arrives for ``timeout_s`` (0 disables)."""
        ms = int(round(timeout_s * 1000))
        if not 0 <= ms <= 0xFFFF:
            raise ValueError("watchdog timeout must be within 0..65.535 s")
        self.request(MsgType.WATCHDOG, smp.WATCHDOG_REQ.pack(ms))

    def ping(self) -> None:
        self.request(MsgType.PING)

    # ------------------------------------------------------------------ patterns
    def _writes(self, codes: np.ndarray) -> tuple[list[tuple[int, bytes]], int]:
        """The WRITE requests that fill the shadow with ``codes``, and the pattern CRC COMMIT expects.

        The pattern is bit-packed once; a span that starts and ends on a byte boundary (or ends
        the pattern) is a slice of it, any other span is packed on its own."""
        flat, bits = codes.reshape(-1), self.info.bits
        packed = smp.pack_codes(flat, bits)
        reqs, start = [], 0
        for layer, off, cnt in self._spans:
            lo, hi = start * bits, (start + cnt) * bits
            if lo % 8 == 0 and (hi % 8 == 0 or start + cnt == flat.size):
                data = packed[lo // 8:(hi + 7) // 8]
            else:
                data = smp.pack_codes(flat[start:start + cnt], bits)
            reqs.append((MsgType.WRITE, smp.WRITE_HEAD.pack(layer, off, cnt) + data))
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
        body = self.request(MsgType.COMMIT, smp.COMMIT_REQ.pack(crc))
        return smp.LATCH_REPLY.unpack(body)[0]

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
        spans = self._spans
        return [(MsgType.READ, smp.READ_REQ.pack(bank, *span)) for span in spans], spans

    def _decode_read(self, spans: list, replies: list[Message]) -> np.ndarray:
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
            todo = configs[done:done + 1] if failures else configs[done:]  # after a failure, that push alone
            reqs, layout, crcs = [], [], []
            for cfg in todo:
                writes, crc = self._writes(cfg.codes)
                crcs.append(crc)
                layout.append((len(reqs) + len(writes), len(reqs) + len(writes) + 1))
                reqs += writes + [(MsgType.COMMIT, smp.COMMIT_REQ.pack(crc))] + reads
            try:
                self._raise_if_reset()
                replies = self.transact(reqs, reply_size=self.info.max_frame, raise_nak=False)
                self._raise_if_reset()
            except Exception as e:  # noqa: BLE001 - the caller gets the count and the reason
                return PushBatch(done, e)
            last_latch = -1  # latch counts of accepted pushes must rise: a late resent push would show
            for cfg, crc, (commit_at, read_at) in zip(todo, crcs, layout):
                commit = replies[commit_at]
                error = None
                if commit.type == MsgType.NAK:
                    code = _nak_code(commit)
                    error = BoardRefused(str(smp.NakError(MsgType.COMMIT, code)), code)
                else:
                    back = replies[read_at:read_at + len(reads)]
                    active = self._decode_read(spans, back) if all(r.type == MsgType.ACK for r in back) else None
                    latch = smp.LATCH_REPLY.unpack(commit.body)[1]
                    if active is None or not np.array_equal(active, cfg.codes):
                        bad = "unreadable" if active is None else f"{np.count_nonzero(active != cfg.codes)} atoms"
                        error = BoardVerifyError(f"readback after push differs ({bad}, config {cfg.hash[:12]})")
                    elif latch <= last_latch:  # an earlier push's frames arrived late and latched after this one
                        error = BoardVerifyError(f"push {cfg.hash[:12]} was latched out of order")
                    last_latch = max(last_latch, latch)
                if error is None:
                    self._shadow_crc = crc
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

    # ------------------------------------------------------------------ slots and sequences
    def store_slot(self, slot: int, config: PhaseConfig, skip_if_present: bool = True) -> bool:
        """Store ``config`` in ``slot``; returns False when the slot already held it (no upload)."""
        check_config_fits(config, self.info)
        self._check_slot(slot)
        crc = smp.pattern_crc(config.codes, self.info.bits)
        if skip_if_present and self.status().slot_crcs[slot] == crc:
            return False
        self.write(config)
        self.request(MsgType.SLOT_STORE, smp.SLOT_STORE_REQ.pack(slot, crc))
        return True

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.info.slots:
            raise ValueError(f"slot {slot} out of range: board {self.info.serial} has slots 0..{self.info.slots - 1}")

    def upload_slots(self, configs: dict[int, PhaseConfig], skip_present: bool = True) -> int:
        """Store many slots in one pipelined burst (WRITEs then SLOT_STORE per slot); returns bytes sent.

        Each SLOT_STORE carries the CRC of the pattern it expects in the shadow, so a WRITE lost or
        reordered by a retry makes that store fail with CRC_MISMATCH instead of storing a wrong
        pattern; such slots are then stored again one at a time. With ``skip_present``, slots whose
        CRC in STATUS already matches are not sent again.
        """
        for slot, cfg in configs.items():
            self._check_slot(slot)
            check_config_fits(cfg, self.info)
        before = self.link.bytes_out
        if skip_present:
            present = self.status().slot_crcs
            configs = {s: c for s, c in configs.items() if present[s] != smp.pattern_crc(c.codes, self.info.bits)}
        reqs, store_idx = [], []
        for slot, cfg in configs.items():
            writes, crc = self._writes(cfg.codes)
            reqs += writes
            store_idx.append((len(reqs), slot))
            reqs.append((MsgType.SLOT_STORE, smp.SLOT_STORE_REQ.pack(slot, crc)))
        self._raise_if_reset()
        replies = self.transact(reqs, reply_size=16, raise_nak=False)
        self._raise_if_reset()
        for idx, slot in store_idx:
            rep = replies[idx]
            if rep.type == MsgType.NAK:
                if _nak_code(rep) != NakCode.CRC_MISMATCH:
                    raise BoardRefused(str(smp.NakError(MsgType.SLOT_STORE, _nak_code(rep))), _nak_code(rep))
                self.store_slot(slot, configs[slot], skip_if_present=False)
        return self.link.bytes_out - before

    def load_slot(self, slot: int) -> None:
        self._check_slot(slot)
        self.request(MsgType.SLOT_LOAD, smp.SLOT_REQ.pack(slot))

    def define_sequence(self, slots: list[int]) -> None:
        slots = [int(s) for s in slots]
        if not slots:
            raise ValueError("a sequence needs at least one slot")
        for s in slots:
            self._check_slot(s)
        max_len = (self.info.max_frame - smp.OVERHEAD - 2) // 2
        if len(slots) > max_len:
            raise ValueError(f"sequence of {len(slots)} steps exceeds the board's {max_len}")
        self.request(MsgType.SEQ_DEFINE, smp.U16.pack(len(slots)) + b"".join(smp.U16.pack(s) for s in slots))

    def define_random_sequence(self, base_slot: int, layer: int, seed: int) -> None:
        """A never-ending sequence: step k shows ``base_slot`` with ``layer`` replaced by
        ``smp.random_layer_codes(seed, [k], ...)`` (k = 0 at start), so the host knows every step's
        pattern without sending it."""
        self._check_slot(base_slot)
        if not 0 <= layer < self.info.layers:
            raise ValueError(f"layer {layer} does not exist: the board has {self.info.layers} layers")
        if not 0 <= seed < 2**64:
            raise ValueError("seed must fit in 64 bits")
        self.request(MsgType.SEQ_RANDOM, smp.SEQ_RANDOM_REQ.pack(base_slot, layer, seed))

    def random_sequence_codes(self, base: np.ndarray, layer: int, seed: int, steps) -> np.ndarray:
        """(len(steps), L, rows, cols) patterns a random sequence shows at ``steps`` (host side)."""
        return smp.random_sequence_patterns(np.asarray(base).reshape(self.info.shape), layer, seed, steps,
                                            self.info.bits)

    def arm_sequence(self, mode: SequenceMode = SequenceMode.HOST, loop: bool = False, period_s: float = 0.0) -> None:
        mode = SequenceMode(mode)
        period_us = int(round(period_s * 1e6))
        if mode == SequenceMode.TIMER and not 1 <= period_us <= 0xFFFFFFFF:
            raise ValueError("timer sequences need a period between 1 us and ~71 min")
        self.request(MsgType.SEQ_ARM, smp.SEQ_ARM_REQ.pack(int(mode), int(loop), period_us))

    def start_sequence(self) -> int:
        return smp.SEQ_REPLY.unpack(self.request(MsgType.SEQ_START))[0]

    def step_sequence(self) -> int:
        return smp.SEQ_REPLY.unpack(self.request(MsgType.SEQ_STEP))[0]

    def step_sequence_many(self, count: int) -> list[int]:
        """Send ``count`` host steps pipelined; returns the position each step reported."""
        self._raise_if_reset()
        replies = self.transact([(MsgType.SEQ_STEP, b"")] * count, reply_size=16)
        self._raise_if_reset()
        return [smp.SEQ_REPLY.unpack(r.body)[0] for r in replies]

    def stop_sequence(self) -> int:
        return smp.SEQ_REPLY.unpack(self.request(MsgType.SEQ_STOP))[0]


def _nak_code(msg: Message) -> int:
    return msg.body[0] if msg.body else 0

