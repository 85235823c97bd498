"""The open-source 16x16 1-bit RIS (STM32 behind an FT231X, 115200 baud): codec and driver.

ASCII protocol of the public firmware (github.com/mheinri/OpenSourceRIS):

* ``!0X<64 hex>\\n`` sets the pattern and answers ``#OK\\n`` once shifted and latched;
* ``?Pattern\\n`` answers ``#0X<64 HEX>\\n``; ``?Vext\\n`` answers ``#dd.dd V\\n``;
  ``?SerialNo\\n`` answers ``#<serial>\\n``;
* ``!Reset\\n`` reboots; the boot banner ends with ``#READY!``;
* LF ends a command, a CR clears the receive buffer, malformed commands get no reply at all,
  one command at a time.

Element n = 16 * row + col is bit (255 - n) of the big-endian 256-bit number, i.e. element 0 is
the most significant bit of the first hex digit. The board has no CRC, sequence numbers, shadow
buffer, slots or trigger: this driver keeps the shadow and slots on the host, treats silence as
an error after a timeout, and runs host-stepped sequences only.
"""

from __future__ import annotations

import re
import time

import numpy as np

from drivers.board import (
    Board,
    BoardCapabilityError,
    BoardInfo,
    BoardRefused,
    BoardStatus,
    BoardTimeout,
    SequenceMode,
    check_config_fits,
)
from drivers.capabilities import upload_slots
from drivers.features import Feature
from drivers.open_ris_codec import BANNER_END, COLS, PATTERN_REPLY, ROWS, VEXT_REPLY, decode_pattern, encode_pattern
from drivers.sequence import SequenceState
from drivers.transport import SerialBoardMixin, make_link
from simhw.values.phase_config import PhaseConfig

MAX_LINE = 256  # bytes; the longest reply (#0X + 64 hex digits) is 67

__all__ = ["OpenRISBoard", "encode_pattern", "decode_pattern", "ROWS", "COLS", "BANNER_END"]


class OpenRISBoard(SerialBoardMixin, Board):
    """Driver for one open-source 16x16 1-bit RIS (a single-layer board)."""

    def __init__(self, link, baudrate: int = 115200, timeout: float = 0.5, retries: int = 2, uart_baudrate: int = 0):
        self.link = make_link(link, baudrate, uart_baudrate)
        self.timeout = timeout
        self.retries = retries
        self._buf = bytearray()
        self.dropped_bytes = 0  # line noise thrown away (longer than any reply, with no line end)
        self._shadow = np.zeros((1, ROWS, COLS), np.uint16)
        self._slots: dict[int, np.ndarray] = {}
        self._sequence: list[int] = []
        self._seq_pos = 0
        self._seq_steps = 0
        self._seq_state = SequenceState.IDLE
        self._loop = False
        self._latches = 0
        self._boot_id = 0

    # ------------------------------------------------------------------ line I/O
    def _readline(self, deadline: float) -> bytes | None:
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 1]
                return line
            if time.monotonic() >= deadline:
                return None
            self._buf += self.link.read_some()
            if len(self._buf) > MAX_LINE and self._buf.find(b"\n") < 0:  # no line is this long: noise
                self.dropped_bytes += len(self._buf)
                self._buf.clear()

    def query(self, command: bytes, expect: re.Pattern | None = None, timeout: float | None = None) -> bytes:
        """Send one command line and return the first reply line matching ``expect`` (``#...``).

        Silence until the timeout is retried ``retries`` times, then raises BoardTimeout.
        """
        if b"\r" in command or not command.endswith(b"\n") or command.count(b"\n") != 1:
            raise ValueError("open-source RIS commands are one line ending in LF, never CR")
        timeout = self.timeout if timeout is None else timeout
        with self.link.lock:
            for _attempt in range(self.retries + 1):
                self._buf.clear()
                self.link.discard_input()
                self.link.write(command)
                deadline = time.monotonic() + timeout + len(command) * self.link.byte_time
                while True:
                    line = self._readline(deadline)
                    if line is None:
                        break
                    if line.startswith(b"#") and (expect is None or expect.match(line)):
                        return line
            raise BoardTimeout(
                f"no reply to {command[:12]!r}… from {self.link.url} within {timeout} s ({self.retries + 1} attempts)"
            )

    # ------------------------------------------------------------------ Board interface
    def identify(self) -> BoardInfo:
        try:
            serial_no = self.query(b"?SerialNo\n", re.compile(rb"^#(?!0X)(?!OK)")).decode()[1:]
        except BoardTimeout:
            serial_no = "unknown"
        self.read_active()  # proves the board answers; raises BoardTimeout otherwise
        self.info = BoardInfo(
            "Open source RIS 16x16",
            serial_no,
            "1.0",
            "open-ris-ascii",
            1,
            ROWS,
            COLS,
            1,
            0,
            0,
            self._boot_id,
            Feature.SLOTS | Feature.HOST_SEQUENCE,
        )  # both kept by the host
        return self.info

    def status(self) -> BoardStatus:
        match = VEXT_REPLY.match(self.query(b"?Vext\n", VEXT_REPLY))
        assert match is not None  # query returns only a line its pattern matches
        vext = float(match.group(1))
        return BoardStatus(
            self._boot_id,
            None,
            None,
            vext,
            None,
            self._latches,
            None,
            None,
            None,
            self._seq_state.label,
            self._seq_pos,
            self._seq_steps,
            0,
            False,
            (),
        )

    def reset(self, ready_timeout: float = 5.0) -> BoardInfo:
        with self.link.lock:
            self._buf.clear()
            self.link.write(b"!Reset\n")
            deadline = time.monotonic() + ready_timeout
            while True:
                line = self._readline(deadline)
                if line is None:
                    raise BoardTimeout(f"no '#READY!' from {self.link.url} within {ready_timeout} s after reset")
                if line.strip() == BANNER_END:
                    break
        self._boot_id += 1
        self._seq_state = SequenceState.IDLE
        return self.identify()

    def write(self, config: PhaseConfig) -> None:
        check_config_fits(config, self.info)
        self._shadow = config.codes.copy()

    def commit(self) -> None:
        self.query(encode_pattern(self._shadow[0]), re.compile(rb"^#OK$"))
        self._latches += 1

    def read_shadow(self) -> np.ndarray:
        return self._shadow.copy()

    def read_active(self) -> np.ndarray:
        match = PATTERN_REPLY.match(self.query(b"?Pattern\n", PATTERN_REPLY))
        assert match is not None  # query returns only a line its pattern matches
        return decode_pattern(match.group(1))[None]

    def store_slot(self, slot: int, config: PhaseConfig) -> bool:
        check_config_fits(config, self.info)
        if slot < 0:
            raise ValueError("slot must be >= 0")
        self._slots[slot] = config.codes.copy()
        return True

    def upload_slots(self, configs: dict[int, PhaseConfig]) -> int:
        """Store many slots (host-side, one by one); returns how many were stored."""
        return upload_slots(self, configs)

    def load_slot(self, slot: int) -> None:
        if slot not in self._slots:
            raise BoardRefused(f"slot {slot} is empty")
        self._shadow = self._slots[slot].copy()
        self.commit()

    def define_sequence(self, slots: list[int]) -> None:
        missing = [s for s in slots if s not in self._slots]
        if not slots or missing:
            raise BoardRefused(f"sequence needs stored slots; empty: {missing or 'no slots given'}")
        self._sequence = list(slots)
        self._seq_state = SequenceState.IDLE

    def arm_sequence(self, mode: SequenceMode = SequenceMode.HOST, loop: bool = False, period_s: float = 0.0) -> None:
        if SequenceMode(mode) != SequenceMode.HOST:
            raise BoardCapabilityError("the open-source RIS has no trigger input or timer: host-stepped sequences only")
        if not self._sequence:
            raise BoardRefused("define a sequence before arming it")
        self._loop = loop
        self._seq_state = SequenceState.ARMED
        self._seq_pos = self._seq_steps = 0

    def start_sequence(self) -> int:
        if self._seq_state != SequenceState.ARMED:
            raise BoardRefused("sequence is not armed")
        self._seq_state = SequenceState.RUNNING
        self.load_slot(self._sequence[0])
        return 0

    def step_sequence(self) -> int:
        if self._seq_state != SequenceState.RUNNING:
            raise BoardRefused("sequence is not running")
        nxt = self._seq_pos + 1
        if nxt >= len(self._sequence):
            if not self._loop:
                self._seq_state = SequenceState.IDLE
                raise BoardRefused("sequence ended")
            nxt = 0
        self.load_slot(self._sequence[nxt])
        self._seq_pos = nxt
        self._seq_steps += 1
        return nxt

    def stop_sequence(self) -> int:
        self._seq_state = SequenceState.IDLE
        return self._seq_pos
