import numpy as np
import pytest
from boards_helpers import ris_board

from drivers.board import BoardCapabilityError, BoardRefused, BoardTimeout, SequenceMode
from drivers.composite import CompositeBoard
from drivers.open_ris import OpenRISBoard, decode_pattern, encode_pattern
from simhw.values.phase_config import PhaseConfig

KINDS = ["pty", "tcp", "inproc"]


def ris_cfg(seed, layers=1):
    return PhaseConfig.random(layers, 16, 16, 1, seed=seed)


def test_codec_element_order():
    bits = np.zeros((16, 16), np.uint8)
    bits[0, 0] = 1  # element 0 -> bit 255 -> MSB of the first hex digit
    assert encode_pattern(bits) == b"!0X8" + b"0" * 63 + b"\n"
    bits[:] = 0
    bits[15, 15] = 1  # element 255 -> bit 0
    assert encode_pattern(bits) == b"!0X" + b"0" * 63 + b"1\n"
    rnd = np.random.default_rng(0).integers(0, 2, (16, 16))
    np.testing.assert_array_equal(decode_pattern(encode_pattern(rnd)[3:-1]), rnd)
    with pytest.raises(ValueError, match="256 one-bit"):
        encode_pattern(np.full((16, 16), 2))


@pytest.mark.parametrize("kind", KINDS)
def test_every_board_operation(kind):
    with ris_board(kind, serial="RIS-42") as (fw, ep, board):
        assert board.info.serial == "RIS-42" and board.info.shape == (1, 16, 16) and board.info.bits == 1
        c = ris_cfg(1)
        board.write(c)
        np.testing.assert_array_equal(board.read_shadow(), c.codes)
        assert not np.array_equal(fw.active_codes(), c.codes)
        board.commit()
        np.testing.assert_array_equal(fw.active_codes(), c.codes)
        np.testing.assert_array_equal(board.read_active(), c.codes)
        board.push(ris_cfg(2))
        np.testing.assert_array_equal(fw.active_codes(), ris_cfg(2).codes)
        assert board.status().supply_v == pytest.approx(5.02)
        for i in range(3):
            board.store_slot(i, ris_cfg(10 + i))
        board.load_slot(1)
        np.testing.assert_array_equal(fw.active_codes(), ris_cfg(11).codes)
        board.define_sequence([2, 0])
        board.arm_sequence(SequenceMode.HOST, loop=True)
        board.start_sequence()
        np.testing.assert_array_equal(fw.active_codes(), ris_cfg(12).codes)
        assert board.step_sequence() == 1
        np.testing.assert_array_equal(fw.active_codes(), ris_cfg(10).codes)
        board.stop_sequence()
        with pytest.raises(BoardCapabilityError, match="no trigger input"):
            board.arm_sequence(SequenceMode.TRIGGER)
        with pytest.raises(BoardRefused, match="slot 9 is empty"):
            board.load_slot(9)
        info = board.reset()
        assert info.serial == "RIS-42" and np.all(fw.active_codes() == 0) and fw.boots == 2


def test_firmware_is_strict_like_the_real_one():
    with ris_board() as (fw, ep, board):
        board.timeout = 0.05
        board.retries = 0
        with pytest.raises(BoardTimeout, match="no reply"):
            board.query(b"!0X1234\n")  # malformed: no reply at all
        with pytest.raises(ValueError, match="never CR"):
            board.query(b"?Pattern\r\n")
        # a CR clears the board's buffer: the garbage before it is forgotten
        board.link.write(b"garbage\r")
        line = board.query(b"?Vext\n")
        assert line == b"#05.02 V"
        # lower-case input is folded like the real firmware does
        assert board.query(b"?pattern\n").startswith(b"#0X")


def test_composite_of_three_ris_boards():
    with (
        ris_board(serial="A") as (fa, _, a),
        ris_board("tcp", serial="B") as (fb, _, b),
        ris_board(serial="C") as (fc, _, c),
    ):
        sim = CompositeBoard([a, b, c])
        assert sim.info.shape == (3, 16, 16) and sim.info.serial == "A+B+C"
        cfg3 = ris_cfg(5, layers=3)
        sim.push(cfg3)
        for layer, fw in enumerate((fa, fb, fc)):
            np.testing.assert_array_equal(fw.active_codes()[0], cfg3.codes[layer])
        np.testing.assert_array_equal(sim.read_active(), cfg3.codes)
        with pytest.raises(ValueError, match="does not match"):
            sim.push(ris_cfg(5, layers=2))
        with pytest.raises(BoardCapabilityError):
            sim.arm_sequence(SequenceMode.TRIGGER)
        sim.store_slot(0, ris_cfg(6, layers=3))
        sim.store_slot(1, cfg3)
        sim.define_sequence([0, 1])
        sim.arm_sequence(SequenceMode.HOST)
        sim.start_sequence()
        np.testing.assert_array_equal(sim.read_active(), ris_cfg(6, layers=3).codes)
        sim.step_sequence()
        np.testing.assert_array_equal(np.concatenate([f.active_codes() for f in (fa, fb, fc)]), cfg3.codes)


def test_open_ris_absent_board_is_a_clear_timeout(tmp_path):
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(BoardTimeout, match="no reply"):
            OpenRISBoard(os.ttyname(slave), timeout=0.05, retries=0).open()
    finally:
        os.close(master)
        os.close(slave)
