"""8N1 UART receiver and transmitter, ``divisor`` clock cycles per bit."""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal

__all__ = ["UartRx", "UartTx"]


class UartRx(Elaboratable):
    """Samples ``rx`` (synchronised through two flip-flops) mid-bit; ``valid`` pulses with ``data``.
    A byte whose stop bit is low is dropped and pulses ``error``."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        self.rx = Signal(init=1)
        self.data = Signal(8)
        self.valid = Signal()
        self.error = Signal()
        self.busy = Signal()

    def elaborate(self, platform):
        m = Module()
        sync1, line = Signal(init=1), Signal(init=1)
        m.d.sync += [sync1.eq(self.rx), line.eq(sync1)]
        timer = Signal(range(self.divisor * 2))
        bit = Signal(range(10))
        shift = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [self.data.eq(shift), self.valid.eq(line), self.error.eq(~line)]
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m


class UartTx(Elaboratable):
    """Sends ``data`` when ``valid`` and ``ready``; ``ready`` is high while the line is idle."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        self.tx = Signal(init=1)
        self.data = Signal(8)
        self.valid = Signal()
        self.ready = Signal()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shift = Signal(10)
        left = Signal(range(11))
        m.d.comb += self.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.valid):
                m.d.sync += [
                    shift.eq((self.data << 1) | (1 << 9)),
                    left.eq(10),
                    timer.eq(self.divisor - 1),
                    self.tx.eq(0),
                ]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [left.eq(left - 1), timer.eq(self.divisor - 1), shift.eq(shift >> 1)]
            m.d.sync += self.tx.eq(shift.bit_select(1, 1) | (left == 1))
        return m
