"""Transcript helpers: a driver talks to a script of the instrument's side of an exact conversation.

In the spirit of PyMeasure's ``expected_protocol``: the driver is built with a scripted resource
or link injected in place of the real one, every byte or SCPI string it sends must be the next
one of the script, the script's replies are what it reads, and at the end of the block the whole
script must have been used. No ports, no sockets.

    with expected_scpi(KeysightPNA, [("*IDN?", "Keysight,N5227B,1,A"), ("*CLS", None), ...]) as vna:
        vna.configure(...)
"""

from __future__ import annotations

import contextlib
import threading

import pyvisa.util


class ScriptError(AssertionError):
    pass


class ScriptedInstrument:
    """A pyvisa resource stand-in playing ``script``: (command, reply or None) pairs, in order.

    A reply of bytes is an IEEE 488.2 definite-length block (``CALC:DATA?``); it is parsed by
    pyvisa's own block reader, as a real session would.
    """

    resource_name = "TCPIP0::script::INSTR"

    def __init__(self, script):
        self.script = list(script)
        self.pos = 0
        self.pending = None
        self.read_termination = self.write_termination = "\n"
        self.timeout = 2000
        self.closed = False

    def _expect(self, cmd: str):
        if self.pos >= len(self.script):
            raise ScriptError(f"the driver sent {cmd!r} after the end of the conversation")
        want, reply = self.script[self.pos]
        if cmd != want:
            raise ScriptError(f"step {self.pos}: the driver sent {cmd!r}, the conversation says {want!r}")
        self.pos += 1
        return reply

    def write(self, cmd: str):
        reply = self._expect(cmd)
        if reply is not None:
            self.pending = reply
        return len(cmd)

    def read(self) -> str:
        reply, self.pending = self.pending, None
        if not isinstance(reply, str):
            raise ScriptError(f"the driver read a text reply at step {self.pos}, the conversation has {reply!r}")
        return reply

    def query(self, cmd: str) -> str:
        self.write(cmd)
        return self.read()

    def query_binary_values(self, cmd, datatype="f", is_big_endian=False, container=list, **_):
        self.write(cmd)
        block, self.pending = self.pending, None
        if not isinstance(block, bytes):
            raise ScriptError(f"the driver asked {cmd!r} for a binary block, the conversation has {block!r}")
        return pyvisa.util.from_ieee_block(block, datatype, is_big_endian, container)

    def query_ascii_values(self, cmd, container=list, **_):
        return container([float(v) for v in self.query(cmd).split(",")])

    def close(self):
        self.closed = True

    def assert_done(self):
        if self.pos != len(self.script):
            raise ScriptError(
                f"the driver stopped after {self.pos} of {len(self.script)} steps; next: {self.script[self.pos][0]!r}"
            )


@contextlib.contextmanager
def expected_scpi(driver_cls, script, **kw):
    """Yield ``driver_cls`` talking to the scripted instrument; the whole script must be used."""
    inst = ScriptedInstrument(script)
    driver = driver_cls(inst, **kw)
    yield driver
    inst.assert_done()


class ScriptedLink:
    """A board link stand-in playing ``script``: (bytes the host must send, bytes the board answers).

    What the host writes is compared, byte for byte, with the script's host bytes laid end to end
    (so frames may be written in bursts); each step's answer becomes readable once that step's
    host bytes have all been written.
    """

    url = "script://board"
    byte_time = 0.0

    def __init__(self, script):
        self.script = [
            (bytes.fromhex(h) if isinstance(h, str) else h, bytes.fromhex(b) if isinstance(b, str) else b)
            for h, b in script
        ]
        self.expected = b"".join(h for h, _ in self.script)
        self.written = bytearray()
        self.released = 0
        self.inbox = bytearray()
        self.lock = threading.RLock()
        self.is_open = False
        self.bytes_out = 0

    def open(self):
        self.is_open = True

    def close(self):
        self.is_open = False

    def discard_input(self):
        pass

    def write(self, data: bytes):
        start = len(self.written)
        self.written += data
        self.bytes_out += len(data)
        if bytes(self.written) != self.expected[: len(self.written)]:
            at = next(
                i
                for i in range(start, len(self.written))
                if i >= len(self.expected) or self.written[i] != self.expected[i]
            )
            raise ScriptError(
                f"byte {at}: the host sent {bytes(self.written[start:]).hex()}, the conversation "
                f"has {self.expected[start : start + len(data)].hex()}"
            )
        end = 0
        for i, (host, board) in enumerate(self.script):
            end += len(host)
            if i >= self.released and end <= len(self.written):
                self.inbox += board
                self.released = i + 1

    def read_some(self) -> bytes:
        data, self.inbox = bytes(self.inbox), bytearray()
        return data

    def assert_done(self):
        if bytes(self.written) != self.expected:
            raise ScriptError(f"the host sent {len(self.written)} of the conversation's {len(self.expected)} bytes")


# SMP push with readback on a 1-layer 2x2 2-bit board, SMP version 2, sequence numbers from 1, host
# session 0x00005e55. Frames are COBS(header | body | crc32) 00; header = "SM" (53 4d), version 02, type,
# seq u16, length u16.
SMP_PUSH = [
    # HELLO seq 1: the host's session id u32
    (
        "06534d020101020403555e0105a760a8f300",
        # ACK seq 1: HelloInfo protocol 2, firmware 1.0, 1 layer, 2 x 2, 2 bits, max frame 1024, 64 slots,
        # boot id 0xe5f15431 (a random draw of the board's), serial "T1", capabilities 0x7f (all seven)
        "06534d028001022503020103010202020202030440078b4ae5f1543101010101010101010101010101027f010105155bb74c00",
    ),
    # WRITE seq 2: layer 0, offset 0, count 4, codes 0,1,2,3 packed LSB first (e4)
    (
        "06534d0202020206010101020406e40d16d3a600"
        # COMMIT seq 3: the pattern's CRC-32 0x7565c9ec
        "06534d020303020409ecc9657568fab83f00"
        # READ seq 4: bank 1 (active), layer 0, offset 0, count 4
        "06534d0204040206020101010204051534264c00",
        # ACK seq 2 (empty), ACK seq 3 (active crc 0x7565c9ec, latch count 1), ACK seq 4 (e4: the codes back)
        "06534d028002010105e7e670cd0006534d028003020806ecc96575010101054931df420006534d028004020106e4465144c500",
    ),
]
