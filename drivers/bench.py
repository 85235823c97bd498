"""Open the hardware a bench description names: its board(s) as one :class:`Board`, and its VNA.

    with open_bench(BenchConfig.load("bench.toml")) as (board, vna):
        board.push(config)
        s = vna.measure()

Resources must be real addresses (a simulated bench's :meth:`SimBench.resolved_config` gives
them); "sim" is refused here because starting simulated devices is the caller's choice.
"""

from __future__ import annotations

import contextlib

from simhw.bench_config import BenchConfig

from .board import Board
from .composite import CompositeBoard
from .open_ris import OpenRISBoard
from .smp_board import SMPBoard
from .vna import SCPIVNA, open_vna

__all__ = ["open_board", "open_bench"]


def open_board(config: BenchConfig) -> Board:
    """The SIM's board: one SMP board, or a composite of one open-source RIS board per layer."""
    urls = config.board.urls
    if any(u == "sim" for u in urls):
        raise ValueError("board URL 'sim' names a simulated board: start a SimBench and use its resolved_config()")
    if config.board.protocol == "smp":
        if len(urls) == 1:
            return SMPBoard(urls[0], config.board.baudrate)
        boards = [SMPBoard(u, config.board.baudrate) for u in urls]
    else:
        boards = []
        try:
            for u in urls:
                boards.append(OpenRISBoard(u, config.board.baudrate))
        except Exception:
            for b in boards:
                b.close()
            raise
    return CompositeBoard(boards)


@contextlib.contextmanager
def open_bench(config: BenchConfig):
    """Context manager yielding (board, vna) for ``config``; both are closed on exit."""
    if config.vna.resource == "sim":
        raise ValueError("VNA resource 'sim' names a simulated VNA: start a SimBench and use its resolved_config()")
    board = open_board(config)
    try:
        vna: SCPIVNA = open_vna(config.vna.family, config.vna.resource)
    except Exception:
        board.close()
        raise
    try:
        yield board, vna
    finally:
        vna.close()
        board.close()
