"""The SMP gateware (sim_backend/gateware) co-simulated in Amaranth against the unmodified driver.

The driver reaches the design through a ``simhw://`` port (InprocEndpoint), exactly as it reaches the
Python firmware. What the atoms would show is decoded from the shift-register pins, not read from
the design's memories. Bounded: a reduced clock (4 cycles per UART bit) and a few frames per test.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

from drivers import smp
from drivers.board import BoardCapabilityError, BoardRefused, BoardResetError
from drivers.cobs import CobsError
from drivers.features import Feature
from drivers.smp import FrameDecoder, MsgType, NakCode, SMPMessage
from drivers.smp_board import SMPBoard
from drivers.smp_messages import Commit, Event, Hello, Nak, Read, SeqArm, StatusInfo, Write
from sim_backend.gateware.cosim import GatewareFirmware
from sim_backend.gateware.params import GatewareParams
from sim_backend.inproc_endpoint import InprocEndpoint
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)
ROOT = pathlib.Path(__file__).resolve().parents[1]

PARAMS = GatewareParams(clock_hz=921600 * 4, debounce_s=2e-6)
SHAPE = (PARAMS.layers, PARAMS.rows, PARAMS.cols)


def configs(n, seed=0):
    return [PhaseConfig.random(*SHAPE, PARAMS.bits, seed=seed + i) for i in range(n)]


@pytest.fixture
def board(request):
    """(driver, firmware) over the UART's byte stream, or its pins with ``indirect`` parameter "bits"."""
    fw = GatewareFirmware(PARAMS, uart=getattr(request, "param", "bytes"))
    with InprocEndpoint(fw) as ep:
        b = SMPBoard(ep.url, timeout=5.0)
        b.open()
        yield b, fw
        b.close()


def frames_of(data: bytes) -> list[SMPMessage]:
    return [m for m in FrameDecoder(1024).feed(data) if isinstance(m, SMPMessage)]


def status(fw, seq=900) -> StatusInfo:
    (reply,) = frames_of(fw.receive(smp.encode_frame(SMPMessage(MsgType.STATUS, seq, b""))))
    return StatusInfo.unpack(reply.body)


def test_the_driver_identifies_the_gateware_and_uses_only_what_it_reports(board):
    b, fw = board
    info = b.info
    assert (info.serial, info.layers, info.rows, info.cols, info.bits, info.slots) == ("SMPGW-0001", *SHAPE, 2, 8)
    assert info.max_frame == PARAMS.frame and info.protocol == "SMP/2"
    assert info.features == Feature.SHADOW | Feature.SLOTS | Feature.HOST_SEQUENCE | Feature.TRIGGER | Feature.WATCHDOG
    sent = b.link.bytes_out
    with pytest.raises(BoardCapabilityError):
        b.arm_timer(0.001)
    with pytest.raises(BoardCapabilityError):
        b.define_random_sequence(0, 0, 1)
    assert b.link.bytes_out == sent  # refused before anything went on the wire
    # asked anyway, the gateware says what it lacks
    with pytest.raises(BoardRefused) as exc:
        b.request(MsgType.SEQ_RANDOM, b"\x00" * 11)
    assert exc.value.code == NakCode.UNSUPPORTED
    with pytest.raises(BoardRefused) as exc:
        b.request(MsgType.SEQ_ARM, SeqArm(2, 0, 1000).pack())
    assert exc.value.code == NakCode.UNSUPPORTED
    st = b.status()
    assert st.safe_mode and st.active_crc == smp.pattern_crc(np.zeros(SHAPE, np.uint16), 2)
    assert np.array_equal(fw.active_codes(), np.zeros(SHAPE))


def test_pushes_are_read_back_from_the_gateware_ram_and_shifted_out_to_the_atoms(board):
    b, fw = board
    cfgs = configs(3, seed=10)
    before = len(fw.latched)
    assert b.push(cfgs[0]) == cfgs[0].hash
    batch = b.push_many(cfgs[1:])
    assert batch.done == 2 and batch.error is None
    assert np.array_equal(b.read_active(), cfgs[-1].codes)
    assert np.array_equal(b.read_shadow(), cfgs[-1].codes)
    shown = fw.latched[before:]  # decoded from sr_clk / sr_data / sr_latch
    assert len(shown) == 3
    for got, cfg in zip(shown, cfgs):
        assert np.array_equal(got, cfg.codes)
    st = b.status()
    assert st.latch_count == 3 and not st.safe_mode
    assert st.active_crc == smp.pattern_crc(cfgs[-1].codes, 2) == b.last_latched.crc
    assert (st.crc_errors, st.framing_errors, st.overruns) == (0, 0, 0)


@pytest.mark.parametrize("board", ["bits"], indirect=True)
def test_the_driver_pushes_through_the_uart_pins(board):
    """The unmodified driver against the bit-level UART: every byte it sends is shifted into uart_rx at
    the design's bit period and every reply is sampled off uart_tx; the push is verified by readback and
    the atoms' shift-register pins show it."""
    b, fw = board
    assert b.info.protocol == "SMP/2" and (b.info.layers, b.info.rows, b.info.cols) == SHAPE
    cfg = configs(1, seed=80)[0]
    before = len(fw.latched)
    assert b.push(cfg) == cfg.hash  # written, committed with its CRC, read back and compared
    (shown,) = fw.latched[before:]  # decoded from sr_clk / sr_data / sr_latch
    assert np.array_equal(shown, cfg.codes)
    st = b.status()
    assert st.active_crc == smp.pattern_crc(cfg.codes, 2) and (st.crc_errors, st.framing_errors) == (0, 0)


def test_slots_and_a_trigger_stepped_sequence(board):
    b, fw = board
    a, c, d = configs(3, seed=20)
    b.upload_slots({0: a, 1: c, 2: d})
    st = b.status()
    assert st.slot_crcs[:3] == tuple(smp.pattern_crc(x.codes, 2) for x in (a, c, d))
    assert st.slot_crcs[3:] == (None,) * 5
    stores = status(fw).latch_count, len(fw.latched)
    sent = b.upload_slots({0: a, 1: c})  # present already: nothing sent but the STATUS that says so
    assert sent == len(smp.encode_frame(SMPMessage(MsgType.STATUS, 1, b"")))
    assert (status(fw, 901).latch_count, len(fw.latched)) == stores
    b.load_slot(1)
    assert np.array_equal(fw.active_codes(), c.codes)
    with pytest.raises(BoardRefused) as exc:
        b.load_slot(5)
    assert exc.value.code == NakCode.EMPTY_SLOT
    b.define_sequence([2, 0, 1])
    b.arm_trigger(loop=False)
    assert b.start_sequence() == 0
    assert np.array_equal(fw.active_codes(), d.codes)
    shown = len(fw.latched)
    fw.trigger()
    assert np.array_equal(fw.active_codes(), a.codes)
    fw.trigger()
    assert np.array_equal(fw.active_codes(), c.codes)
    fw.trigger()  # past the end of a one-shot sequence: lost, the sequence stops
    assert len(fw.latched) == shown + 2
    st = b.status()
    assert (st.seq_state, st.seq_position, st.seq_steps, st.seq_missed) == ("idle", 2, 2, 1)
    # host-stepped, looping
    b.arm_sequence(loop=True)
    b.start_sequence()
    assert b.step_sequence_many(3) == [1, 2, 0]
    assert np.array_equal(fw.active_codes(), d.codes)
    assert np.array_equal(b.read_active(), d.codes)


def test_the_reply_cache_answers_a_retry_without_executing_it_again(board):
    b, fw = board
    cfg = configs(1, seed=30)[0]
    b.write(cfg)
    commit = smp.encode_frame(SMPMessage(MsgType.COMMIT, 77, Commit(smp.pattern_crc(cfg.codes, 2)).pack()))
    first, again = fw.receive(commit), fw.receive(commit)
    assert first == again and frames_of(first)[0].type == MsgType.ACK
    assert status(fw).latch_count == 1
    # a new host session empties the cache: the same seq is executed again
    fw.receive(smp.encode_frame(SMPMessage(MsgType.HELLO, 78, Hello(0xABCD).pack())))
    assert frames_of(fw.receive(commit))[0].type == MsgType.ACK
    assert status(fw).latch_count == 2


def test_the_watchdog_shows_the_safe_pattern_and_reset_loses_the_ram(board):
    b, fw = board
    cfg = configs(1, seed=40)[0]
    b.push(cfg)
    b.set_watchdog(0.001)
    events = frames_of(fw.run_ms(2.5))
    assert [Event.unpack(e.body).kind for e in events if e.type == MsgType.EVENT] == [smp.EventKind.WATCHDOG]
    assert np.array_equal(fw.active_codes(), np.zeros(SHAPE))
    assert b.status().safe_mode
    old = b.info.boot_id
    info = b.reset()
    assert info.boot_id != old
    assert b.status().latch_count == 0 and b.status().slot_crcs == (None,) * 8
    assert np.array_equal(b.read_shadow(), np.zeros(SHAPE))


def test_the_driver_notices_a_power_cycle(board):
    b, fw = board
    b.push(configs(1, seed=50)[0])
    old = b.info.boot_id
    fw.reset()  # a power-up of the same design repeats its boot id: the BOOT event is what tells
    with pytest.raises(BoardResetError, match="unchanged"):
        b.status()
    assert b.status().boot_id == old and b.status().safe_mode


# ---------------------------------------------------------------------- bad frames into the UART
def _write_frames(seq: int, cfg: PhaseConfig) -> list[bytes]:
    data = smp.pack_codes(cfg.codes.reshape(-1), 2)
    return [
        smp.encode_frame(SMPMessage(MsgType.WRITE, seq, Write(0, 0, cfg.codes.size, data).pack())),
        smp.encode_frame(SMPMessage(MsgType.COMMIT, seq + 1, Commit(smp.pattern_crc(cfg.codes, 2)).pack())),
    ]


def _cobs_breaks(encoded: bytes) -> bool:
    try:
        smp.cobs_decode(encoded)
    except CobsError:
        return True
    return False


def test_bad_frames_on_the_uart_get_frame_errors_or_naks_and_never_change_the_latched_pattern():
    fw = GatewareFirmware(PARAMS, uart="bits")
    good, other = configs(2, seed=60)
    fw.receive(smp.encode_frame(SMPMessage(MsgType.HELLO, 1, Hello(5).pack())))
    replies = frames_of(fw.receive(b"".join(_write_frames(2, good))))
    assert [r.type for r in replies] == [MsgType.ACK, MsgType.ACK]
    shown = len(fw.latched)
    write, commit = _write_frames(10, other)
    raw = smp.cobs_decode(write[:-1])
    corrupt = bytearray(raw)
    corrupt[20] ^= 0x40  # a code bit flipped: the CRC no longer holds
    oversized = SMPMessage(MsgType.WRITE, 11, Write(0, 0, 4, bytes(PARAMS.frame)).pack())
    cut = next(n for n in range(len(write) // 2, len(write)) if _cobs_breaks(write[:n]))
    truncated = write[:cut] + b"\x00"
    head = b"XM" + raw[2:-4]
    bad_magic = smp.cobs_encode(head + zlib.crc32(head).to_bytes(4, "little")) + b"\x00"
    cases = {  # what docs/protocol.md says: dropped, counted, EVENT FRAME_ERROR
        "crc": smp.cobs_encode(bytes(corrupt)) + b"\x00",
        "truncated": truncated,
        "oversized": smp.encode_frame(oversized),
        "magic": bad_magic,
    }
    before = status(fw, 100)
    for name, frame in cases.items():
        out = frames_of(fw.receive(frame))
        assert [(m.type, Event.unpack(m.body).kind) for m in out] == [(MsgType.EVENT, smp.EventKind.FRAME_ERROR)], name
    after = status(fw, 101)
    assert after.crc_errors - before.crc_errors == 1
    assert after.overruns - before.overruns == 1
    assert after.framing_errors - before.framing_errors == 2  # truncated COBS and bad magic
    # decodable but refused: NAKs, still nothing latched
    bad_span = smp.encode_frame(SMPMessage(MsgType.WRITE, 12, Write(PARAMS.layers, 0, 1, b"\x01").pack()))
    wrong_crc = smp.encode_frame(SMPMessage(MsgType.COMMIT, 13, Commit(0xDEADBEEF).pack()))
    short = smp.encode_frame(SMPMessage(MsgType.READ, 14, b"\x01\x00"))
    naks = frames_of(fw.receive(bad_span + wrong_crc + short))
    assert [(m.type, Nak.unpack(m.body).code) for m in naks] == [
        (MsgType.NAK, NakCode.BAD_ARGUMENT),
        (MsgType.NAK, NakCode.CRC_MISMATCH),
        (MsgType.NAK, NakCode.BAD_LENGTH),
    ]
    assert len(fw.latched) == shown
    assert np.array_equal(fw.active_codes(), good.codes)
    st = status(fw, 102)
    assert st.active_crc == smp.pattern_crc(good.codes, 2) and st.latch_count == 1 and st.naks == 3
    # and the line is in step again: the next good frames are answered
    assert [r.type for r in frames_of(fw.receive(write + commit))] == [MsgType.ACK, MsgType.ACK]
    assert np.array_equal(fw.active_codes(), other.codes)


def test_the_uart_and_the_byte_stream_give_the_same_conversation():
    """The byte-level co-simulation is equivalent to the bit-level one: same replies, same latches."""
    a, c = configs(2, seed=70)
    script = [
        smp.encode_frame(SMPMessage(MsgType.HELLO, 1, Hello(9).pack())),
        *_write_frames(2, a),
        smp.encode_frame(SMPMessage(MsgType.READ, 4, Read(1, 0, 0, PARAMS.atoms).pack())),
        *_write_frames(5, c),
        smp.encode_frame(
            SMPMessage(
                MsgType.SLOT_STORE, 7, (3).to_bytes(2, "little") + smp.pattern_crc(c.codes, 2).to_bytes(4, "little")
            )
        ),
        smp.encode_frame(SMPMessage(MsgType.READ, 8, Read(0, 2, 3, 20).pack())),
        smp.encode_frame(SMPMessage(MsgType.PING, 9, b"\x00")),
        smp.encode_frame(SMPMessage(0x42, 10, b"")),
    ]
    runs = {}
    for mode in ("bits", "bytes"):
        fw = GatewareFirmware(PARAMS, uart=mode)
        runs[mode] = ([fw.receive(frame) for frame in script], [x.tolist() for x in fw.latched])
    assert runs["bits"] == runs["bytes"]
    replies = [
        [m for m in frames_of(r) if m.type != MsgType.EVENT] for r in runs["bytes"][0]
    ]  # the first: EVENT BOOT too
    assert [r[0].type for r in replies] == [MsgType.ACK] * 8 + [MsgType.NAK, MsgType.NAK]
    assert smp.unpack_codes(replies[3][0].body, PARAMS.atoms, 2).tolist() == a.codes[0].reshape(-1).tolist()


# ---------------------------------------------------------------------- export
@pytest.mark.timeout(900)
def test_verilog_generates_and_the_synthesis_estimate_is_the_one_in_the_docs(tmp_path):
    """``simhw gateware verilog`` as docs/gateware.md shows it: Verilog out, and the estimate it prints is
    the documented one."""
    cmd = [
        sys.executable,
        "-m",
        "simhw",
        "gateware",
        "verilog",
        "--layers",
        "4",
        "--rows",
        "6",
        "--cols",
        "6",
        "--bits",
        "2",
        "--clock",
        "50e6",
        "--baud",
        "921600",
        "-o",
        str(tmp_path / "smp.v"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=850)
    assert r.returncode == 0, r.stderr
    verilog = (tmp_path / "smp.v").read_text()
    assert "module smp_board" in verilog
    for port in ("uart_rx", "uart_tx", "trigger", "sr_clk", "sr_data", "sr_latch", "safe"):
        assert re.search(rf"\b(input|output)\b[^;]*\b{port}\b", verilog), port
    line = next(x for x in r.stdout.splitlines() if x.startswith("synth_ice40:"))
    printed = line.rsplit(" (", 1)[0]
    luts = int(re.search(r"(\d+) LUT4", printed).group(1))
    assert 0 < luts < 7680  # fits an iCE40 HX8K
    docs = (ROOT / "docs" / "gateware.md").read_text()
    assert printed in docs, f"docs/gateware.md does not show what the command printed: {printed}"
