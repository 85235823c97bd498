"""The SMP board in gateware: pins, and the byte-stream ports co-simulation may use instead of the UART.

Pins (docs/gateware.md has a wiring sketch): ``uart_rx``/``uart_tx`` to a USB-UART, ``trigger``
(debounced), ``sr_clk``, ``sr_data`` (one per layer), ``sr_latch`` to the atoms' shift-register
drivers, ``safe`` (high while the safe pattern shows, e.g. an LED).
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal

from sim_backend.gateware.executor import Executor
from sim_backend.gateware.outputs import Debounce, ShiftOut
from sim_backend.gateware.params import GatewareParams
from sim_backend.gateware.rx import FrameReceiver
from sim_backend.gateware.tx import Transmitter
from sim_backend.gateware.uart import UartRx, UartTx

__all__ = ["SMPGateware"]


class SMPGateware(Elaboratable):
    """The whole board. With ``byte_stream`` the UARTs are left out: bytes enter on ``rx_data``/``rx_valid``
    (taken when ``rx_ready``) and leave on ``tx_data``/``tx_valid`` (taken when ``tx_ready``)."""

    def __init__(self, p: GatewareParams | None = None, byte_stream: bool = False):
        self.p = p = p or GatewareParams()
        self.byte_stream = byte_stream
        self.uart_rx = Signal(init=1)
        self.uart_tx = Signal(init=1)
        self.trigger = Signal()
        self.sr_clk = Signal()
        self.sr_data = Signal(p.layers)
        self.sr_latch = Signal()
        self.safe = Signal()
        # byte-stream ports (co-simulation at the byte level)
        self.rx_data = Signal(8)
        self.rx_valid = Signal()
        self.rx_ready = Signal()
        self.tx_data = Signal(8)
        self.tx_valid = Signal()
        self.tx_ready = Signal()
        self.busy = Signal()  # anything received, queued, executing or shifting

    def ports(self) -> list:
        return [self.uart_rx, self.uart_tx, self.trigger, self.sr_clk, self.sr_data, self.sr_latch, self.safe]

    def elaborate(self, platform):
        m = Module()
        p = self.p
        m.submodules.rx = rx = FrameReceiver(p)
        m.submodules.tx = tx = Transmitter(p)
        m.submodules.shift = shift = ShiftOut(p)
        m.submodules.debounce = deb = Debounce(p.debounce_cycles)
        m.submodules.executor = ex = Executor(p, rx, tx, shift)
        m.d.comb += [
            deb.raw.eq(self.trigger),
            ex.trigger.eq(deb.pulse),
            self.safe.eq(ex.safe),
            self.sr_clk.eq(shift.sr_clk),
            self.sr_data.eq(shift.sr_data),
            self.sr_latch.eq(shift.sr_latch),
        ]
        line_busy = Signal()
        if self.byte_stream:
            m.d.comb += [
                rx.data.eq(self.rx_data),
                rx.valid.eq(self.rx_valid & rx.ready),
                self.rx_ready.eq(rx.ready),
                self.tx_data.eq(tx.data),
                self.tx_valid.eq(tx.valid),
                tx.ready.eq(self.tx_ready),
            ]
        else:
            m.submodules.uart_in = uin = UartRx(p.divisor)
            m.submodules.uart_out = uout = UartTx(p.divisor)
            m.d.comb += [
                uin.rx.eq(self.uart_rx),
                rx.data.eq(uin.data),
                rx.valid.eq(uin.valid),
                self.uart_tx.eq(uout.tx),
                uout.data.eq(tx.data),
                uout.valid.eq(tx.valid),
                tx.ready.eq(uout.ready),
                line_busy.eq(uin.busy | ~uout.ready),
            ]
        m.d.comb += self.busy.eq(ex.busy | tx.busy | shift.busy | rx.in_frame | line_busy)
        return m
