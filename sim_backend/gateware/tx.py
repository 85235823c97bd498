"""The transmit path: a queue of reply-buffer entries, COBS encoding straight from the buffer.

The reply buffer holds one entry per reply-cache slot (the reply to sequence number s lives in entry
s mod ``reply_cache``) and one for events; byte 0 of an entry is the frame's length, the raw frame
(header, body, CRC) follows. Retransmitting a cached reply is queueing its entry again. Each entry
is encoded as it is sent: a scan finds the next zero (at most 254 bytes on), then the code byte and
the run go out (Cheshire and Baker's COBS, as ``drivers/cobs.py``), then the 0x00 delimiter.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory

from sim_backend.gateware.params import GatewareParams

__all__ = ["Transmitter"]


class Transmitter(Elaboratable):
    """Write entries through ``w_*``, queue them with ``push``/``push_entry``; bytes leave on ``data``/``valid``
    when the UART is ``ready``."""

    def __init__(self, p: GatewareParams):
        self.p = p
        entries = p.reply_cache + 1
        self.event_entry = p.reply_cache
        self.w_addr = Signal(range(entries * p.entry))
        self.w_data = Signal(8)
        self.w_en = Signal()
        self.push = Signal()
        self.push_entry = Signal(range(entries))
        self.queue_full = Signal()
        self.event_busy = Signal()  # the event entry is queued or being sent: not to be rewritten
        self.data = Signal(8)
        self.valid = Signal()
        self.ready = Signal()
        self.busy = Signal()
        self.frame_sent = Signal()  # pulses after each delimiter

    def elaborate(self, platform):
        m = Module()
        p = self.p
        entries = p.reply_cache + 1
        m.submodules.mem = mem = Memory(shape=8, depth=entries * p.entry, init=[])
        wp, rp = mem.write_port(), mem.read_port()
        m.d.comb += [wp.addr.eq(self.w_addr), wp.data.eq(self.w_data), wp.en.eq(self.w_en)]
        m.submodules.queue = q = SyncFIFO(width=len(self.push_entry), depth=entries)
        m.d.comb += [q.w_data.eq(self.push_entry), q.w_en.eq(self.push), self.queue_full.eq(~q.w_rdy)]

        event_queued = Signal()
        with m.If(self.push & (self.push_entry == self.event_entry)):
            m.d.sync += event_queued.eq(1)
        m.d.comb += self.event_busy.eq(event_queued)

        entry = Signal(range(entries))
        base = Signal(range(entries * p.entry))
        length = Signal(8)
        pos = Signal(9)  # next frame byte to send (1-based in the entry)
        scan = Signal(9)  # bytes of the current run
        run_end = Signal(9)
        m.d.comb += rp.addr.eq(base + pos + scan)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(q.r_rdy):
                    m.d.sync += [entry.eq(q.r_data), base.eq(q.r_data * p.entry), pos.eq(0), scan.eq(0)]
                    m.next = "LENGTH"
            with m.State("LENGTH"):  # address base + 0 is being read
                m.next = "LENGTH2"
            with m.State("LENGTH2"):
                m.d.sync += [length.eq(rp.data), pos.eq(1), scan.eq(0)]
                m.next = "SCAN"
            with m.State("SCAN"):  # base + pos + scan is being read; its byte arrives next cycle
                m.next = "SCAN2"
            with m.State("SCAN2"):
                at_end = (pos + scan) > length
                with m.If(at_end | (rp.data == 0) | (scan == 254)):
                    m.d.sync += run_end.eq(scan)
                    m.next = "CODE"
                with m.Else():
                    m.d.sync += scan.eq(scan + 1)
                    m.next = "SCAN"
            with m.State("CODE"):
                m.d.comb += [self.valid.eq(1), self.data.eq(Mux(run_end == 254, 0xFF, run_end + 1))]
                with m.If(self.ready):
                    m.d.sync += scan.eq(0)
                    m.next = "RUN"
            with m.State("RUN"):  # byte base + pos + scan (scan < run_end) is being read
                with m.If(scan == run_end):
                    with m.If(run_end == 254):
                        m.d.sync += [pos.eq(pos + 254), scan.eq(0)]
                        m.next = "SCAN"
                    with m.Elif(pos + run_end > length):
                        m.next = "DELIMIT"
                    with m.Else():  # the run stopped at a zero: skip it, the next run starts after it
                        m.d.sync += [pos.eq(pos + run_end + 1), scan.eq(0)]
                        m.next = "SCAN"
                with m.Else():
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.valid.eq(1), self.data.eq(rp.data)]
                with m.If(self.ready):
                    m.d.sync += scan.eq(scan + 1)
                    m.next = "RUN"
            with m.State("DELIMIT"):
                m.d.comb += [self.valid.eq(1), self.data.eq(0)]
                with m.If(self.ready):
                    m.d.comb += [q.r_en.eq(1), self.frame_sent.eq(1)]
                    with m.If(entry == self.event_entry):
                        m.d.sync += event_queued.eq(0)
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(q.r_rdy | ~fsm.ongoing("IDLE"))
        return m
