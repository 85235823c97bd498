"""The gateware in Amaranth's simulator behind the byte interface of a simulated firmware.

:class:`GatewareFirmware` has the methods :class:`~sim_backend.inproc_endpoint.InprocEndpoint` and
:class:`~sim_backend.serial_endpoint.SerialEndpoint` call on :class:`~sim_backend.smp_firmware.SMPFirmware`
(``receive``, ``poll``, ``next_deadline``, ``reset``), so the unmodified driver reaches it through a
``simhw://`` port, a pty or ``socket://``. ``uart="bits"`` drives the design's UART pins at its bit
timing (``clock_hz / baud`` cycles per bit); ``uart="bytes"`` leaves the UARTs out and moves bytes
through the byte-stream ports with flow control, many times fewer cycles per frame. The two give
the same replies and the same latched patterns (``tests/test_gateware.py`` checks it frame by frame).

The simulated clock runs only while there is something to do: bytes to take in or send, a frame
executing, the shift registers shifting. Time-based behaviour (the watchdog, uptime) therefore
follows simulated time, which :meth:`GatewareFirmware.run_ms` advances on purpose. The shift-register
pins are decoded as the atoms' drivers would take them: each ``sr_latch`` strobe records the chains'
contents as codes (:attr:`latched`).
"""

from __future__ import annotations

import threading

import numpy as np
from amaranth.sim import Simulator

from sim_backend.gateware.params import GatewareParams
from sim_backend.gateware.top import SMPGateware

__all__ = ["GatewareFirmware"]


class GatewareFirmware:
    """The gateware of ``params`` co-simulated; ``uart`` is ``"bits"`` or ``"bytes"``."""

    def __init__(self, params: GatewareParams | None = None, uart: str = "bytes", max_cycles: int = 2_000_000):
        if uart not in ("bits", "bytes"):
            raise ValueError("uart must be 'bits' or 'bytes'")
        self.p = params or GatewareParams()
        self.uart = uart
        self.max_cycles = max_cycles  # per call: a design that never settles is an error, not a hang
        self._lock = threading.RLock()
        self.power_cycles = 0
        self._build()

    # ------------------------------------------------------------------ the firmware interface
    def receive(self, data: bytes, now: float | None = None) -> bytes:
        """Bytes from the host -> the bytes the gateware sent until it settled."""
        with self._lock:
            self._in += data
            return self._settle()

    def poll(self, now: float | None = None) -> bytes:
        with self._lock:
            return self._settle()

    def _settle(self) -> bytes:
        """Run until the design is quiet; what it sent (and the power-up's bytes nobody has taken yet)."""
        early, self._early = self._early, b""
        return early + self._run_until_quiet()

    def next_deadline(self) -> float | None:
        return None  # the simulated clock does not follow the wall clock

    def reset(self, now: float | None = None) -> None:
        """Power-cycle the design: every RAM state is lost, EVENT BOOT follows (with the same boot id as the
        last power-up: the design has no entropy source, docs/gateware.md)."""
        with self._lock:
            self.power_cycles += 1
            self._build()

    # ------------------------------------------------------------------ pins and time
    def trigger(self, pulses: int = 1) -> bytes:
        """Pulse the trigger input ``pulses`` times, each held past the debounce time."""
        with self._lock:
            hold = self.p.debounce_cycles + 8
            for _ in range(pulses):
                self._actions.append(("trigger", 1, hold))
                self._actions.append(("trigger", 0, hold))
            return self._settle()

    def run_ms(self, ms: float) -> bytes:
        """Let simulated time pass with no traffic (the watchdog's clock)."""
        with self._lock:
            self._actions.append(("wait", 0, int(ms * self.p.clock_hz / 1000)))
            return self._settle()

    def active_codes(self) -> np.ndarray:
        """(layers, rows, cols): what the atoms' drivers latched last."""
        with self._lock:
            return (
                self.latched[-1].copy()
                if self.latched
                else np.zeros((self.p.layers, self.p.rows, self.p.cols), np.uint16)
            )

    # ------------------------------------------------------------------ simulation
    def _build(self) -> None:
        self.dut = SMPGateware(self.p, byte_stream=self.uart == "bytes")
        self.sim = Simulator(self.dut)
        self.sim.add_clock(1 / self.p.clock_hz)
        self.sim.add_testbench(self._bench)
        self._in = bytearray()
        self._out = bytearray()
        self._actions: list = []
        self._quiet = False
        self.cycles = 0
        self.latched: list[np.ndarray] = []
        self.byte_log: list[tuple[int, str, int]] = []  # (cycle, "rx"/"tx", byte) at the line's stop bit
        self._early = self._run_until_quiet()  # power-up: the boot; its EVENT BOOT goes to whoever listens first

    def _run_until_quiet(self) -> bytes:
        self._quiet = False
        start = self.cycles
        while not self._quiet:
            self.sim.advance()
            if self.cycles - start > self.max_cycles:
                raise RuntimeError(f"the gateware did not settle within {self.max_cycles} cycles")
        out, self._out = bytes(self._out), bytearray()
        return out

    async def _bench(self, ctx):
        dut, p = self.dut, self.p
        L, N, B = p.layers, p.atoms, p.bits
        chains = [[] for _ in range(L)]
        bits_mode = self.uart == "bits"
        div = p.divisor
        tx_line = _LineDecoder(div)
        rx_bits: list[int] = []  # levels still to drive on uart_rx, one per bit period
        rx_left = 0  # cycles left of the current bit
        sending = None
        quiet_for = 0
        last_clk = 0
        if not bits_mode:
            ctx.set(dut.tx_ready, 1)
        while True:
            # ---- the host's side of the line, before the clock edge
            if bits_mode:
                if rx_left == 0:
                    if not rx_bits and self._in:
                        byte = self._in.pop(0)
                        rx_bits = [0] + [(byte >> b) & 1 for b in range(8)] + [1]
                        self.byte_log.append((self.cycles + 10 * div, "rx", byte))
                    if rx_bits:
                        ctx.set(dut.uart_rx, rx_bits.pop(0))
                        rx_left = div
                rx_busy = rx_left > 0 or bool(rx_bits)
            else:
                if sending is None and self._in:
                    sending = self._in.pop(0)
                    ctx.set(dut.rx_data, sending)
                    ctx.set(dut.rx_valid, 1)
                took = sending is not None and ctx.get(dut.rx_ready)
                if ctx.get(dut.tx_valid):
                    byte = ctx.get(dut.tx_data)
                    self._out.append(byte)
                    self.byte_log.append((self.cycles, "tx", byte))
                rx_busy = sending is not None
            action_busy = False
            if self._actions:
                kind, level, cycles = self._actions[0]
                if kind == "trigger":
                    ctx.set(dut.trigger, level)
                self._actions[0] = (kind, level, cycles - 1)
                if cycles <= 1:
                    self._actions.pop(0)
                action_busy = True
            await ctx.tick()
            self.cycles += 1
            # ---- after the edge
            if bits_mode:
                if rx_left:
                    rx_left -= 1
                byte = tx_line.feed(ctx.get(dut.uart_tx))
                if byte is not None:
                    self._out.append(byte)
                    self.byte_log.append((self.cycles, "tx", byte))
                line_busy = tx_line.busy
            else:
                if took:
                    sending = None
                    if not self._in:
                        ctx.set(dut.rx_valid, 0)
                line_busy = False
            clk = ctx.get(dut.sr_clk)
            if clk and not last_clk:
                data = ctx.get(dut.sr_data)
                for layer in range(L):
                    chains[layer].append((data >> layer) & 1)
            last_clk = clk
            if ctx.get(dut.sr_latch):
                self.latched.append(_decode_chains(chains, N, B).reshape(L, p.rows, p.cols))
                chains = [[] for _ in range(L)]
            busy = rx_busy or line_busy or action_busy or bool(self._in) or ctx.get(dut.busy)
            quiet_for = 0 if busy else quiet_for + 1
            if quiet_for >= 4:
                self._quiet = True
                quiet_for = 0


class _LineDecoder:
    """The host's UART receiver on the gateware's TX pin, sampling mid-bit."""

    def __init__(self, divisor: int):
        self.div = divisor
        self.count = -1  # cycles since the start bit's falling edge; -1 while idle
        self.bits = 0

    @property
    def busy(self) -> bool:
        return self.count >= 0

    def feed(self, level: int):
        if self.count < 0:
            if level == 0:
                self.count = 0
                self.bits = 0
            return None
        self.count += 1
        k, phase = divmod(self.count, self.div)
        if phase == self.div // 2 and 1 <= k <= 8:
            self.bits |= level << (k - 1)
        if k == 9 and phase == self.div // 2:
            self.count = -1
            return self.bits if level else None
        return None


def _decode_chains(chains: list, atoms: int, bits: int) -> np.ndarray:
    """Codes (layers, atoms) from each chain's last ``atoms * bits`` shifted bits (docs/gateware.md: stage k
    holds bit k mod B of atom k div B; the first bit shifted ends farthest)."""
    n = atoms * bits
    out = np.zeros((len(chains), atoms), np.uint16)
    for layer, shifted in enumerate(chains):
        stages = np.array(shifted[-n:][::-1], np.uint16)  # stage 0 took the last bit
        if stages.size < n:
            continue
        out[layer] = (stages.reshape(atoms, bits) << np.arange(bits, dtype=np.uint16)).sum(axis=1)
    return out
