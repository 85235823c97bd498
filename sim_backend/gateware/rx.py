"""The receive path: COBS decoding into a two-frame buffer, the running CRC-32 and the frame checks.

Bytes come from the UART (or a byte stream); a 0x00 ends a frame (docs/protocol.md, Framing). A
frame is accepted when its COBS is sound, it holds header + CRC at least and at most ``max_frame``
bytes, its CRC-32 leaves the residue, its magic is "SM" and its length field matches. Anything else
is dropped and counted (CRC error, framing error, overrun) with ``frame_error`` pulsed for one
cycle; the executor never sees it. Accepted frames fill the two halves of the buffer in turn, so one
can arrive while the executor works on the other; with both full, an arriving frame is an overrun.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory

from drivers import smp
from sim_backend.gateware.crc import INIT, RESIDUE, crc32_byte
from sim_backend.gateware.params import GatewareParams

__all__ = ["FrameReceiver"]


class FrameReceiver(Elaboratable):
    """``data``/``valid`` in; per buffer half ``full``, the header fields and the frame's CRC field out.
    The executor reads the buffer through ``read_addr``/``read_data`` and frees a half with ``release``."""

    def __init__(self, p: GatewareParams):
        self.p = p
        mf = p.frame
        self.data = Signal(8)
        self.valid = Signal()
        self.full = Signal(2)
        self.version = Array(Signal(8, name=f"version{h}") for h in range(2))
        self.type = Array(Signal(8, name=f"type{h}") for h in range(2))
        self.seq = Array(Signal(16, name=f"seq{h}") for h in range(2))
        self.length = Array(Signal(16, name=f"length{h}") for h in range(2))
        self.fingerprint = Array(Signal(32, name=f"fingerprint{h}") for h in range(2))
        self.release = Signal()  # frees half ``release_half``
        self.release_half = Signal()
        self.read_addr = Signal(range(2 * mf))
        self.read_data = Signal(8)
        self.accepted = Signal()  # a frame was accepted this cycle (the watchdog's "frame heard")
        self.crc_error = Signal()
        self.framing_error = Signal()
        self.overrun = Signal()
        self.frame_error = Signal()
        self.in_frame = Signal()
        self.ready = Signal()  # a byte would find room (byte-stream flow control; a UART cannot wait)

    def elaborate(self, platform):
        m = Module()
        mf = self.p.frame
        m.submodules.buf = buf = Memory(shape=8, depth=2 * mf, init=[])
        wp, rp = buf.write_port(), buf.read_port()
        m.d.comb += [rp.addr.eq(self.read_addr), self.read_data.eq(rp.data)]

        half = Signal()
        n = Signal(range(mf + 2))  # decoded bytes so far
        encoded = Signal()  # any byte since the last delimiter
        left = Signal(8)  # data bytes left in the COBS block
        code = Signal(8)
        pending_zero = Signal()
        over = Signal()
        crc = Signal(32, init=INIT)
        last4 = Signal(32)
        head = Signal(64)
        m.d.comb += self.in_frame.eq(encoded)

        for h in range(2):
            with m.If(self.release & (self.release_half == h)):
                m.d.sync += self.full.bit_select(h, 1).eq(0)

        out_byte, out_valid = Signal(8), Signal()
        no_room = self.full.bit_select(half, 1)  # the half this frame would fill is still the executor's
        m.d.comb += self.ready.eq(~no_room)
        with m.If(out_valid):
            with m.If((n < mf) & ~no_room):
                m.d.comb += [wp.addr.eq(n + Mux(half, mf, 0)), wp.data.eq(out_byte), wp.en.eq(1)]
                m.d.sync += [n.eq(n + 1), crc.eq(crc32_byte(crc, out_byte)), last4.eq(Cat(last4[8:], out_byte))]
                with m.If(n < 8):
                    m.d.sync += head.word_select(n[:3], 8).eq(out_byte)
            with m.Else():
                m.d.sync += over.eq(1)

        with m.If(self.valid):
            with m.If(self.data == 0):
                length_ok = head[48:64] == (n - smp.OVERHEAD)
                magic_ok = head[:16] == int.from_bytes(smp.MAGIC, "little")
                with m.If(encoded):
                    with m.If(over | no_room):
                        m.d.comb += [self.overrun.eq(1), self.frame_error.eq(1)]
                    with m.Elif((left != 0) | (n < smp.OVERHEAD)):
                        m.d.comb += [self.framing_error.eq(1), self.frame_error.eq(1)]
                    with m.Elif(crc != RESIDUE):
                        m.d.comb += [self.crc_error.eq(1), self.frame_error.eq(1)]
                    with m.Elif(~magic_ok | ~length_ok):
                        m.d.comb += [self.framing_error.eq(1), self.frame_error.eq(1)]
                    with m.Else():
                        m.d.comb += self.accepted.eq(1)
                        m.d.sync += [
                            self.full.bit_select(half, 1).eq(1),
                            half.eq(~half),
                            self.version[half].eq(head[16:24]),
                            self.type[half].eq(head[24:32]),
                            self.seq[half].eq(head[32:48]),
                            self.length[half].eq(head[48:64]),
                            self.fingerprint[half].eq(last4),
                        ]
                m.d.sync += [n.eq(0), encoded.eq(0), left.eq(0), pending_zero.eq(0), over.eq(0), crc.eq(INIT)]
            with m.Else():
                m.d.sync += encoded.eq(1)
                with m.If(left == 0):  # a code byte
                    m.d.comb += [out_byte.eq(0), out_valid.eq(pending_zero)]
                    m.d.sync += [code.eq(self.data), left.eq(self.data - 1), pending_zero.eq(self.data == 1)]
                with m.Else():
                    m.d.comb += [out_byte.eq(self.data), out_valid.eq(1)]
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.sync += pending_zero.eq(code != 0xFF)
        return m
