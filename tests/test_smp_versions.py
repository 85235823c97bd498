"""SMP version 2: HELLO's capability field and host session, and the path for version-1 boards."""

import numpy as np
import pytest
from smp_host_fuzz import FakeClock, FuzzLink

from drivers.board import BoardCapabilityError, BoardRefused
from drivers.capabilities import SlotStore, TriggerSequencer, capable
from drivers.features import Feature
from drivers.list_measurement import triggered_list_measurement
from drivers.smp import FrameDecoder, MsgType
from drivers.smp_board import SMPBoard
from drivers.smp_messages import SeqArm
from sim_backend.smp_firmware import SMPFirmware
from simhw.values.phase_config import PhaseConfig


def direct(fw_kw=None, **board_kw):
    """A board driven over a clean in-memory link to a real firmware (no faults)."""
    clock = FakeClock()
    fw = SMPFirmware(2, 3, 3, 2, slots=8, boot_delay=0.0, seed=3, clock=clock, **(fw_kw or {}))
    link = FuzzLink(fw, clock, np.random.default_rng(0), rate=0.0)
    return fw, link, SMPBoard(link, clock=clock, **board_kw)


def cfg(seed):
    return PhaseConfig.random(2, 3, 3, bits=2, seed=seed)


def test_a_version_1_board_is_spoken_to_in_version_1():
    fw, link, board = direct({"protocol": 1})
    written = []
    write = link.write
    link.write = lambda data: written.append(data) or write(data)
    info = board.open()
    assert info.protocol == "SMP/1" and info.features == Feature.all()
    board.push(cfg(1))
    np.testing.assert_array_equal(fw.active_codes(), cfg(1).codes)
    versions = [m.version for chunk in written for m in FrameDecoder().feed(chunk)]
    assert versions[0] == 2 and set(versions[1:]) == {1}  # one version-2 HELLO, refused; then version 1 only


def test_the_driver_uses_only_what_the_board_reports():
    plain = Feature.SHADOW | Feature.SLOTS | Feature.HOST_SEQUENCE
    fw, link, board = direct({"features": plain})
    assert board.open().features == plain
    assert isinstance(board, TriggerSequencer) and not capable(
        board, TriggerSequencer
    )  # the driver could; this board cannot
    assert capable(board, SlotStore)
    with pytest.raises(BoardCapabilityError, match="trigger"):
        board.arm_trigger()
    with pytest.raises(BoardCapabilityError, match="watchdog"):
        board.set_watchdog(1.0)
    with pytest.raises(BoardCapabilityError, match="no trigger input"):
        triggered_list_measurement(board, object(), [cfg(2)], 28e9)
    board.store_slot(0, cfg(2))
    board.define_sequence([0])
    with pytest.raises(BoardRefused, match="UNSUPPORTED"):  # the board refuses it too, had the driver sent it
        board.transact([(MsgType.SEQ_ARM, SeqArm(1, 0, 0).pack())])


def test_a_new_host_session_is_never_answered_from_the_old_one():
    fw, link, first = direct(first_seq=100)
    first.open()  # HELLO seq 101
    before = first.status()  # STATUS seq 102, cached by the board
    first.push(cfg(3))  # the board latches: its status changes
    second = SMPBoard(link, clock=link.clock, first_seq=100)  # a restarted host: the same sequence numbers
    second.open()  # HELLO seq 101, a new session
    after = second.status()  # STATUS seq 102 again, same bytes as the cached one
    assert after.latch_count == before.latch_count + 1 and after.active_crc != before.active_crc
