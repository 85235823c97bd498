"""Simulated firmware of an SMP multi-layer SIM board (docs/protocol.md).

A state machine fed with bytes and the current time; it never touches a port. An endpoint
(:mod:`sim_backend.serial_endpoint`) connects it to a pty or a TCP socket and models the wire.
It models boot delay (requests are ignored while booting, then EVENT BOOT), shift/latch time (a
trigger arriving while the previous latch is still in progress is a missed step), RAM-only slots,
the watchdog safe pattern, a reply cache for idempotent retries, and faults the tests inject
(spontaneous reset, stuck busy). Its active codes are read by the simulated SIM and VNA directly.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import astuple

import numpy as np

from drivers import smp
from drivers.features import SMP_V1_FEATURES, Feature
from drivers.sequence import SequenceMode, SequenceState
from drivers.smp import EventKind, FrameDecoder, FrameError, MsgType, NakCode, SMPMessage
from drivers.smp_messages import (
    BodyError,
    Commit,
    Event,
    Hello,
    HelloInfo,
    Latch,
    Nak,
    Read,
    SlotInfo,
    StatusInfo,
    WatchdogBody,
    Write,
)
from sim_backend.smp_firmware_sequences import Refused, SlotAndSequenceRequests

__all__ = ["SMPFirmware"]


_NEEDS = {
    MsgType.SLOT_STORE: Feature.SLOTS,
    MsgType.SLOT_LOAD: Feature.SLOTS,
    MsgType.SEQ_DEFINE: Feature.HOST_SEQUENCE,
    MsgType.SEQ_START: Feature.HOST_SEQUENCE,
    MsgType.SEQ_STOP: Feature.HOST_SEQUENCE,
    MsgType.SEQ_STEP: Feature.HOST_SEQUENCE,
    MsgType.SEQ_RANDOM: Feature.RANDOM_SEQUENCE,
    MsgType.WATCHDOG: Feature.WATCHDOG,
}


ALL_FEATURES = Feature.all()  # what a version-2 board does unless told otherwise


class SMPFirmware(SlotAndSequenceRequests):
    """Firmware of one SMP board with ``layers`` x ``rows`` x ``cols`` atoms of ``bits`` bits."""

    def __init__(
        self,
        layers: int,
        rows: int,
        cols: int,
        bits: int,
        *,
        slots: int = 64,
        serial: str = "SIMB-0001",
        firmware: str = "1.0",
        max_frame: int = smp.DEFAULT_MAX_FRAME,
        boot_delay: float = 0.05,
        latch_time: float = 20e-6,
        reply_cache: int = 32,
        safe_code: int = 0,
        seed: int | None = None,
        clock=time.monotonic,
        protocol: int = smp.PROTOCOL_VERSION,
        features: Feature = ALL_FEATURES,
    ):
        """``protocol`` 1 is a board of SMP version 1 (no capability field, no host session); ``features``
        is what a version-2 board reports it can do (requests beyond it are NAK UNSUPPORTED)."""
        if protocol not in smp.VERSIONS:
            raise ValueError(f"SMP versions are {smp.VERSIONS}")
        self.layers, self.rows, self.cols, self.bits = layers, rows, cols, bits
        self.n_atoms = rows * cols
        self.n_slots = slots
        self.serial, self.firmware, self.max_frame = serial, firmware, max_frame
        self.protocol = protocol
        self.features = Feature(features) if protocol >= 2 else SMP_V1_FEATURES
        self.session: int | None = None  # the host session the reply cache belongs to
        self.boot_delay, self.latch_time = boot_delay, latch_time
        self.reply_cache_size = reply_cache
        self.safe_code = safe_code
        self.clock = clock
        self.temperature_c = 35.0
        self.temperature_fn = None  # the simulated bench makes the board's sensor follow the SIM
        self.on_latch = None  # on_latch(firmware, codes) after every latch (the simulated bench's latch log)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        handlers = {t: getattr(self, f"_do_{t.name.lower()}", None) for t in MsgType}
        self._handlers = {t: h for t, h in handlers.items() if h is not None}
        self.boots = 0
        self._boot(clock())
        self.ready_at = clock()  # the first power-up happened before anyone connected
        self._boot_event_due = False

    # ------------------------------------------------------------------ state
    def _boot(self, now: float) -> None:
        shape = (self.layers, self.n_atoms)
        self.shadow = np.zeros(shape, np.uint16)
        self.active = np.full(shape, self.safe_code, np.uint16)
        self.slots: list[np.ndarray | None] = [None] * self.n_slots
        self.slot_crc = [0] * self.n_slots
        self.sequence: list[int] = []
        self.seq_random: tuple[int, int] | None = None  # (layer, seed) of a SEQ_RANDOM sequence
        self.seq_mode = SequenceMode.HOST
        self.seq_loop = False
        self.seq_period = 0.0
        self.seq_state = SequenceState.IDLE
        self.seq_pos = 0
        self.seq_steps = 0
        self.seq_missed = 0
        self._next_tick = 0.0
        self.latch_count = 0
        self.last_latch = -1.0
        self.crc_errors = self.framing_errors = self.overruns = self.naks = 0
        self.watchdog_ms = 0
        self.safe_mode = True
        self.last_rx = now
        self.booted_at = now
        self.ready_at = now + self.boot_delay
        self.boot_id = int(self._rng.integers(1, 2**32))
        self.busy_until = 0.0
        self._cache: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._decoder = FrameDecoder(self.max_frame)
        self._event_seq = 0
        self._pending_reset = False
        self._boot_event_due = True
        self.boots += 1

    def reset(self, now: float | None = None) -> None:
        """Spontaneous reset (power glitch, brown-out): all RAM state is lost."""
        with self._lock:
            self._boot(self.clock() if now is None else now)

    def stick_busy(self, duration: float, now: float | None = None) -> None:
        """Answer every request with NAK BUSY for ``duration`` seconds."""
        with self._lock:
            self.busy_until = (self.clock() if now is None else now) + duration

    def active_codes(self, now: float | None = None) -> np.ndarray:
        """(layers, rows, cols) codes currently shown by the atoms (what the simulated SIM sees)."""
        with self._lock:
            self._advance_timer(self.clock() if now is None else now)
            return self.active.reshape(self.layers, self.rows, self.cols).copy()

    # ------------------------------------------------------------------ byte interface
    def receive(self, data: bytes, now: float | None = None) -> bytes:
        """Bytes from the host -> bytes to the host."""
        now = self.clock() if now is None else now
        with self._lock:
            out = bytearray(self.poll(now))
            if now < self.ready_at:
                return bytes(out)  # booting: the UART is not listening yet
            for item in self._decoder.feed(data):
                if isinstance(item, FrameError):
                    if item.kind == "crc":
                        self.crc_errors += 1
                    elif item.kind == "overrun":
                        self.overruns += 1
                    else:
                        self.framing_errors += 1
                    out += self._event(EventKind.FRAME_ERROR, 0)
                    continue
                self.last_rx = now
                out += self._handle(item, now)
            return bytes(out)

    def poll(self, now: float | None = None) -> bytes:
        """Timers: boot completion, watchdog, timer-driven sequence steps. Returns bytes to send."""
        now = self.clock() if now is None else now
        with self._lock:
            out = bytearray()
            if now < self.ready_at:
                return b""
            if self._boot_event_due:
                self._boot_event_due = False
                self.last_rx = now
                out += self._event(EventKind.BOOT, 0)
            if self.watchdog_ms and not self.safe_mode and now - self.last_rx > self.watchdog_ms / 1000:
                self.active[:] = self.safe_code
                self.safe_mode = True
                self.seq_state = SequenceState.IDLE
                out += self._event(EventKind.WATCHDOG, self.watchdog_ms)
            self._advance_timer(now)
            return bytes(out)

    def next_deadline(self) -> float | None:
        with self._lock:
            times = []
            if self._boot_event_due:
                times.append(self.ready_at)
            if self.watchdog_ms and not self.safe_mode:
                times.append(self.last_rx + self.watchdog_ms / 1000)
            return min(times) if times else None

    def trigger(self, now: float | None = None) -> bool:
        """A pulse on the trigger input. Returns True if it advanced a trigger-mode sequence."""
        now = self.clock() if now is None else now
        with self._lock:
            if self.seq_state != SequenceState.RUNNING or self.seq_mode != SequenceMode.TRIGGER or now < self.ready_at:
                return False
            if now - self.last_latch < self.latch_time:
                self.seq_missed += 1
                return False
            return self._step(now)

    # ------------------------------------------------------------------ internals
    def _event(self, kind: EventKind, data: int) -> bytes:
        self._event_seq = (self._event_seq + 1) & 0xFFFF
        return smp.encode_frame(SMPMessage(MsgType.EVENT, self._event_seq, Event(kind, self.boot_id, data).pack()))

    def _latch(self, codes: np.ndarray, now: float) -> None:
        self.active[:] = codes
        self.latch_count += 1
        self.last_latch = now  # (on_latch reads the latch's time here)
        if self.on_latch is not None:
            self.on_latch(self, self.active)
        self.safe_mode = False

    def _handle(self, msg: SMPMessage, now: float) -> bytes:
        key = zlib.crc32(bytes([msg.type]) + msg.body)
        cached = self._cache.get(msg.seq)
        if cached is not None and cached[0] == key:
            return cached[1]  # a retry: answer again, do not execute again
        try:
            if msg.version != self.protocol:
                raise Refused(NakCode.BAD_VERSION, self.protocol)  # the detail says which version to speak
            if not msg.is_request:
                raise Refused(
                    NakCode.NOT_A_REQUEST
                    if msg.type in (MsgType.ACK, MsgType.NAK, MsgType.EVENT)
                    else NakCode.UNKNOWN_TYPE,
                    msg.type,
                )
            if now < self.busy_until and msg.type != MsgType.STATUS:
                self.naks += 1
                return smp.encode_frame(SMPMessage(MsgType.NAK, msg.seq, Nak(NakCode.BUSY, 0).pack()))
            need = _NEEDS.get(msg.type)
            if need is not None and not self.features & need:
                raise Refused(NakCode.UNSUPPORTED, msg.type)
            body = self._handlers[msg.type](msg.body, now)
            reply = smp.encode_frame(SMPMessage(MsgType.ACK, msg.seq, body))
        except Refused as nak:
            self.naks += 1
            reply = smp.encode_frame(SMPMessage(MsgType.NAK, msg.seq, Nak(nak.code, nak.detail & 0xFFFF).pack()))
        self._cache[msg.seq] = (key, reply)
        self._cache.move_to_end(msg.seq)
        while len(self._cache) > self.reply_cache_size:
            self._cache.popitem(last=False)
        if self._pending_reset:  # the ACK goes out, then the board reboots
            self._pending_reset = False
            self._boot(now)
        return reply

    @staticmethod
    def _expect(body: bytes, size: int) -> None:
        if len(body) != size:
            raise Refused(NakCode.BAD_LENGTH, len(body))

    @staticmethod
    def _body(cls, body: bytes):
        """``body`` unpacked as ``cls`` (drivers.smp_messages); a wrong layout is NAK BAD_LENGTH."""
        try:
            return cls.unpack(body)
        except BodyError:
            raise Refused(NakCode.BAD_LENGTH, len(body)) from None

    def _span(self, layer: int, offset: int, count: int) -> slice:
        """The span's atoms in the layer-major flattened pattern (it may run on into the next layers)."""
        start = layer * self.n_atoms + offset
        if layer >= self.layers or offset >= self.n_atoms or count == 0 or start + count > self.layers * self.n_atoms:
            raise Refused(NakCode.BAD_ARGUMENT, layer)
        return slice(start, start + count)

    # one method per request type -------------------------------------------------
    def _do_hello(self, body, now):
        if self.protocol >= 2:
            session = self._body(Hello, body).session
            if session != self.session:  # a new host: nothing it sends may be answered from the old one's cache
                self._cache.clear()
                self.session = session
        else:
            self._expect(body, 0)
        return HelloInfo(
            self.protocol,
            self.firmware,
            self.serial,
            self.layers,
            self.rows,
            self.cols,
            self.bits,
            self.max_frame,
            self.n_slots,
            self.boot_id,
            self.features,
        ).pack()

    def _do_write(self, body, now):
        w = self._body(Write, body)
        span = self._span(w.layer, w.offset, w.count)
        self._expect(w.data, (w.count * self.bits + 7) // 8)
        self.shadow.reshape(-1)[span] = smp.unpack_codes(w.data, w.count, self.bits)
        return b""

    def _do_commit(self, body, now):
        expected = self._body(Commit, body).expected_crc
        crc = smp.pattern_crc(self.shadow, self.bits)
        if crc != expected:
            raise Refused(NakCode.CRC_MISMATCH)
        self._latch(self.shadow, now)
        return Latch(crc, self.latch_count).pack()

    def _do_read(self, body, now):
        bank, layer, offset, count = astuple(self._body(Read, body))
        span = self._span(layer, offset, count)
        if bank not in (0, 1) or (count * self.bits + 7) // 8 + smp.OVERHEAD > self.max_frame:
            raise Refused(NakCode.BAD_ARGUMENT, bank)
        src = self.shadow if bank == 0 else self.active
        return smp.pack_codes(src.reshape(-1)[span], self.bits)

    def _do_status(self, body, now):
        self._expect(body, 0)
        self._advance_timer(now)
        return StatusInfo(
            self.boot_id,
            int((now - self.booted_at) * 1000) & 0xFFFFFFFF,
            self.temperature_fn() if self.temperature_fn else self.temperature_c,
            smp.pattern_crc(self.active, self.bits),
            smp.pattern_crc(self.shadow, self.bits),
            self.latch_count,
            self.crc_errors,
            self.framing_errors,
            self.overruns,
            self.naks,
            int(self.seq_state),
            int(self.seq_mode),
            self.seq_pos,
            self.seq_steps,
            self.seq_missed,
            self.watchdog_ms,
            self.safe_mode,
            tuple(SlotInfo(s is not None, c) for s, c in zip(self.slots, self.slot_crc)),
        ).pack()

    def _do_reset(self, body, now):
        self._expect(body, 0)
        self._pending_reset = True
        return b""

    def _do_ping(self, body, now):
        self._expect(body, 0)
        return b""

    def _do_watchdog(self, body, now):
        self.watchdog_ms = self._body(WatchdogBody, body).timeout_ms
        return b""
