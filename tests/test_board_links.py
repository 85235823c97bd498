"""Board links: one driver per port, a socket:// bridge paced by the UART behind it, timeouts from the bench file."""

import pytest
from boards_helpers import smp_board

from drivers.bench import open_board
from drivers.board import BoardConnectionError
from drivers.smp import MsgType
from drivers.smp_board import SMPBoard
from drivers.smp_host import HostEngine
from drivers.transport import SerialLink
from simhw.values.bench_config import BenchConfig


def test_a_second_driver_on_the_same_tty_gets_a_clear_error():
    with smp_board("pty") as (fw, ep, board):
        assert board.info.serial
        with pytest.raises(BoardConnectionError, match="in use by another process"):
            SMPBoard(ep.url).open()
        board.ping()  # the first driver is unharmed


def test_a_socket_bridge_is_paced_by_the_uart_behind_it():
    assert SerialLink("socket://127.0.0.1:2000", 921600).byte_time == 0.0
    bridged = SerialLink("socket://127.0.0.1:2000", 921600, uart_baudrate=115200)
    assert bridged.byte_time == pytest.approx(10 / 115200)
    eng = HostEngine(window=16, timeout=0.1, byte_time=bridged.byte_time)
    eng.start([(MsgType.WRITE, bytes(1000))] * 16, reply_size=16)
    eng.data_to_send(0.0)
    # the last of 16 frames of 1 kB waits behind the other 15 on a 115200-baud UART: about 1.4 s
    deadlines = sorted(p.deadline for p in eng._waiting.values())
    assert 0.18 < deadlines[0] < 0.2 and 1.4 < deadlines[-1] < 1.6  # without the UART's pace: all at 0.1 s


def test_board_timeouts_and_the_uart_rate_come_from_the_bench_file():
    with smp_board("tcp") as (fw, ep, _):
        cfg = BenchConfig()
        cfg.board.urls = [ep.url]
        cfg.board.uart_baudrate, cfg.board.timeout, cfg.board.retries = 115200, 0.5, 2
        board = open_board(cfg)
        try:
            assert (board.timeout, board.retries) == (0.5, 2)
            assert board.link.byte_time == pytest.approx(10 / 115200)
        finally:
            board.close()
