"""``simhw gateware``: the SMP board's gateware as Verilog, with a synthesis estimate.

simhw gateware verilog --layers 4 --rows 6 --cols 6 --bits 2 --clock 50e6 --baud 921600 -o smp.v
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sim_backend.gateware.export import TOP, estimate, to_verilog
from sim_backend.gateware.params import FEATURES, GatewareParams

__all__ = ["add_arguments", "run_from_args"]


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="gateware_command", metavar="ACTION", required=True)
    v = sub.add_parser("verilog", help="write the design as Verilog and print a synthesis estimate")
    v.add_argument("--layers", type=int, default=4)
    v.add_argument("--rows", type=int, default=6)
    v.add_argument("--cols", type=int, default=6)
    v.add_argument("--bits", type=int, default=2, help="bits per atom (1..8)")
    v.add_argument("--clock", type=float, default=50e6, help="system clock (Hz)")
    v.add_argument("--baud", type=int, default=921600, help="UART rate (8N1)")
    v.add_argument("--slots", type=int, default=8, help="stored patterns")
    v.add_argument("--serial", default="SMPGW-0001", help="the serial HELLO reports (16 ASCII characters at most)")
    v.add_argument(
        "--boot-seed",
        type=lambda s: int(s, 0),
        default=0x5EED0001,
        help="mixed into every boot id; give each board its own",
    )
    v.add_argument("-o", "--output", default="smp.v", help="Verilog file to write")
    v.add_argument(
        "--synth",
        default="ice40",
        choices=("ice40", "ecp5", "none"),
        metavar="FAMILY",
        help="synthesis estimate with yosys synth_ice40 or synth_ecp5, or none",
    )


def run_from_args(a) -> int:
    p = GatewareParams(
        layers=a.layers,
        rows=a.rows,
        cols=a.cols,
        bits=a.bits,
        clock_hz=a.clock,
        baud=a.baud,
        slots=a.slots,
        serial=a.serial,
        boot_seed=a.boot_seed,
    )
    out = Path(a.output)
    out.write_text(to_verilog(p))
    print(
        f"wrote {out} (module {TOP}): {p.layers} x {p.rows} x {p.cols} atoms of {p.bits} bits, {p.slots} slots, "
        f"frames up to {p.frame} bytes, reply cache {p.reply_cache}"
    )
    baud = p.clock_hz / p.divisor
    print(
        f"UART: {p.divisor} cycles per bit at {p.clock_hz:g} Hz = {baud:.0f} baud "
        f"({(baud / p.baud - 1) * 100:+.2f} % from {p.baud}); capabilities {FEATURES!r}"
    )
    print(
        f"pins: uart_rx, uart_tx, trigger, sr_clk, sr_data[{p.layers}], sr_latch, safe "
        f"(shift chains of {p.atoms * p.bits} stages, {2 * p.atoms * p.bits + 2} cycles per latch)"
    )
    if a.synth != "none":
        print(f"synthesising for {a.synth} (yosys, about a minute) ...", flush=True)
        t0 = time.monotonic()
        try:
            est = estimate(p, a.synth)
        except RuntimeError as exc:
            print(f"simhw: error: {exc}", file=sys.stderr)
            return 2
        print(f"{est.summary()} ({time.monotonic() - t0:.0f} s)")
    return 0
