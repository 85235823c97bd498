"""The atoms' side: shift-register outputs with a latch strobe, and the debounced trigger input.

One serial chain per layer, ``atoms x bits`` stages long, clocked together on ``sr_clk``; after the
last clock ``sr_latch`` pulses and the drivers' output registers take the chain. The first bit
shifted travels farthest: stage k, counted from the data input, ends up holding bit k mod B of atom
k div B (atom index row-major, as in a pattern). Data changes while ``sr_clk`` is low and is taken
on its rising edge, one bit every two system clocks.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal

from sim_backend.gateware.params import GatewareParams

__all__ = ["ShiftOut", "Debounce"]


class ShiftOut(Elaboratable):
    """Shifts the active pattern out after ``start``; reads it through ``addr``/``word`` (one
    memory word per atom, all layers side by side). ``busy`` until the latch strobe is done."""

    def __init__(self, p: GatewareParams):
        self.p = p
        self.start = Signal()
        self.busy = Signal()
        self.addr = Signal(range(p.atoms))
        self.word = Signal(p.layers * p.bits)
        self.sr_clk = Signal()
        self.sr_data = Signal(p.layers)
        self.sr_latch = Signal()
        self.latches = Signal(32)  # latch strobes so far

    def elaborate(self, platform):
        m = Module()
        p = self.p
        atom = Signal(range(p.atoms))
        bit = Signal(range(p.bits))
        held = Signal(p.layers * p.bits)
        m.d.comb += self.addr.eq(atom)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [atom.eq(p.atoms - 1), bit.eq(p.bits - 1)]
                    m.next = "READ"
            with m.State("READ"):  # the word of ``atom`` is being read
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += held.eq(self.word)
                m.next = "LOW"
            with m.State("LOW"):
                m.d.sync += [self.sr_clk.eq(0)]
                m.d.sync += [
                    self.sr_data[layer].eq(held.bit_select(layer * p.bits + bit, 1)) for layer in range(p.layers)
                ]
                m.next = "HIGH"
            with m.State("HIGH"):
                m.d.sync += self.sr_clk.eq(1)
                with m.If(bit != 0):
                    m.d.sync += bit.eq(bit - 1)
                    m.next = "LOW"
                with m.Elif(atom != 0):
                    m.d.sync += [bit.eq(p.bits - 1), atom.eq(atom - 1)]
                    m.next = "READ"
                with m.Else():
                    m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += [self.sr_clk.eq(0), self.sr_latch.eq(1)]
                m.next = "DONE"
            with m.State("DONE"):
                m.d.sync += [self.sr_latch.eq(0), self.latches.eq(self.latches + 1)]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m


class Debounce(Elaboratable):
    """``pulse`` for one cycle when ``raw`` (synchronised) has been high for ``cycles`` after being low."""

    def __init__(self, cycles: int):
        self.cycles = cycles
        self.raw = Signal()
        self.pulse = Signal()

    def elaborate(self, platform):
        m = Module()
        s1, s2, level = Signal(), Signal(), Signal()
        count = Signal(range(self.cycles + 1))
        m.d.sync += [s1.eq(self.raw), s2.eq(s1), self.pulse.eq(0)]
        with m.If(s2 == level):
            m.d.sync += count.eq(0)
        with m.Elif(count == self.cycles - 1):
            m.d.sync += [level.eq(s2), count.eq(0), self.pulse.eq(s2)]
        with m.Else():
            m.d.sync += count.eq(count + 1)
        return m
