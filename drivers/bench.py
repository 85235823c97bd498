"""Open the hardware a bench description names: its board(s) as one :class:`Board`, and its VNA.

    with open_devices(BenchConfig.load("bench.toml")) as (board, vna):
        board.push(config)
        s = vna.measure()

Resources must be real addresses (a simulated bench's :meth:`SimBench.resolved_config` gives
them); "sim" is refused here because starting simulated devices is the caller's choice.
"""

from __future__ import annotations

import contextlib
from typing import TypedDict

from drivers.board import Board
from drivers.composite import CompositeBoard
from drivers.open_ris import OpenRISBoard
from drivers.smp_board import SMPBoard
from drivers.vna import SCPIVNA, open_vna
from simhw.values.bench_config import BenchConfig

__all__ = ["open_board", "open_devices", "vna_options"]


class _Tuning(TypedDict, total=False):
    """The link settings a bench file may give a board driver."""

    timeout: float
    retries: int


def open_board(config: BenchConfig) -> Board:
    """The SIM's board, opened: one SMP board, or a composite of one board per layer."""
    urls = config.board.urls
    if any(u == "sim" for u in urls):
        raise ValueError("board URL 'sim' names a simulated board: start a SimBench and use its resolved_config()")
    b = config.board
    driver = SMPBoard if b.protocol == "smp" else OpenRISBoard
    tuning: _Tuning = {}  # unset keys (timeout 0, retries -1) leave the driver's defaults
    if b.timeout > 0:
        tuning["timeout"] = b.timeout
    if b.retries >= 0:
        tuning["retries"] = b.retries
    members = [driver(u, b.baudrate, uart_baudrate=b.uart_baudrate, **tuning) for u in urls]
    board = members[0] if driver is SMPBoard and len(members) == 1 else CompositeBoard(members)
    try:
        board.open()
    except Exception:
        for member in members:
            member.close()
        raise
    return board


def vna_options(config: BenchConfig) -> dict:
    """The driver keywords the bench file's [vna] section gives."""
    v = config.vna
    kw = {
        "channel": v.channel,
        "model": v.model,
        "backend": v.backend,
        "preset": v.preset,
        "cal_set": v.cal_set,
        "averaging": v.averaging,
    }
    if v.timeout:
        kw["timeout_s"] = v.timeout
    return kw


@contextlib.contextmanager
def open_devices(config: BenchConfig):
    """Context manager yielding (board, vna) for ``config``; both are closed on exit."""
    if config.vna.resource == "sim":
        raise ValueError("VNA resource 'sim' names a simulated VNA: start a SimBench and use its resolved_config()")
    board = open_board(config)
    try:
        vna: SCPIVNA = open_vna(config.vna.family, config.vna.resource, **vna_options(config))
    except Exception:
        board.close()
        raise
    try:
        yield board, vna
    finally:
        vna.close()
        board.close()
