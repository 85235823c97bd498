"""The SMP host engine on a fake clock, with no sockets: retries, BUSY backoff, resets, stale replies."""

import pytest

from drivers.board import BoardTimeout
from drivers.smp import EventKind, FrameDecoder, MsgType, NakCode, SMPMessage, encode_frame
from drivers.smp_host import HostEngine
from drivers.smp_messages import Event, Nak


def frames(data: bytes) -> list[SMPMessage]:
    return FrameDecoder().feed(data)


def ack(seq: int, body: bytes = b"") -> bytes:
    return encode_frame(SMPMessage(MsgType.ACK, seq, body))


def engine(**kw) -> HostEngine:
    return HostEngine(first_seq=100, timeout=0.1, retries=3, backoff=0.01, **kw)


def test_a_lost_reply_is_resent_with_the_same_sequence_number():
    eng = engine()
    eng.start([(MsgType.PING, b"")])
    first = eng.data_to_send(0.0)
    (sent,) = frames(first)
    assert sent.type == MsgType.PING and sent.seq == 101
    assert eng.data_to_send(0.05) == b""  # not due yet
    again = eng.data_to_send(0.101)  # the reply was lost: the same bytes go out again
    assert again == first
    assert eng.stats["retries"] == 1 and not eng.done
    eng.receive_data(ack(101), 0.12)
    assert eng.done and [r.seq for r in eng.replies()] == [101]


def test_silence_after_all_retries_is_a_timeout():
    eng = engine()
    eng.start([(MsgType.PING, b"")])
    t = 0.0
    sends = 0
    with pytest.raises(BoardTimeout, match="after 4 attempts"):
        for _ in range(20):
            sends += bool(eng.data_to_send(t))
            t += 0.2
    assert sends == 4  # the first send and three retries


def test_busy_backs_off_then_resends():
    eng = engine()
    eng.start([(MsgType.STATUS, b"")])
    first = eng.data_to_send(0.0)
    eng.receive_data(encode_frame(SMPMessage(MsgType.NAK, 101, Nak(NakCode.BUSY, 0).pack())), 0.001)
    assert not eng.done
    # backoff * 2**attempts = 0.02 s after the NAK: nothing before, the same frame after
    assert eng.data_to_send(0.02) == b""
    assert eng.next_deadline() == pytest.approx(0.021)
    assert eng.data_to_send(0.0215) == first
    eng.receive_data(ack(101, b"ok"), 0.03)
    assert eng.done and eng.replies()[0].body == b"ok"


def test_a_new_boot_id_is_reported_once_as_a_reset():
    eng = engine()
    eng.note_boot_id(0x1111, "HELLO")
    assert eng.take_reset() is None
    eng.start([(MsgType.PING, b"")])
    eng.data_to_send(0.0)
    boot = encode_frame(SMPMessage(MsgType.EVENT, 0, Event(EventKind.BOOT, 0x2222, 0).pack()))
    eng.receive_data(boot + ack(101), 0.01)
    assert eng.done
    msg = eng.take_reset()
    assert msg and "0x00001111 -> 0x00002222" in msg and "BOOT event" in msg
    assert eng.take_reset() is None  # once
    eng.note_boot_id(0x2222, "STATUS")
    assert eng.take_reset() is None  # the same boot id again is no reset


def test_a_boot_event_is_a_reset_even_with_an_unchanged_boot_id():
    """A board without an entropy source (the gateware) boots with the same id: its BOOT event tells."""
    eng = engine()
    eng.start([(MsgType.PING, b"")])
    eng.data_to_send(0.0)
    boot = encode_frame(SMPMessage(MsgType.EVENT, 0, Event(EventKind.BOOT, 0x3333, 0).pack()))
    eng.receive_data(boot + ack(101), 0.01)
    assert eng.take_reset() is None  # the first word from a board: nothing known to lose
    eng.start([(MsgType.PING, b"")])
    eng.data_to_send(0.02)
    eng.receive_data(boot + ack(102), 0.03)
    msg = eng.take_reset()
    assert msg and "unchanged" in msg and "0x00003333" in msg


def test_a_stale_reply_is_ignored():
    eng = engine()
    eng.start([(MsgType.PING, b""), (MsgType.PING, b"")])
    eng.data_to_send(0.0)
    eng.receive_data(ack(55) + ack(102), 0.01)  # 55 is not in flight (a late reply to an old request)
    assert eng.stats["stale"] == 1 and not eng.done
    eng.receive_data(ack(101), 0.02)
    assert eng.done and [r.seq for r in eng.replies()] == [101, 102]


def test_the_window_bounds_requests_in_flight_and_a_garbled_frame_makes_them_due():
    eng = engine(window=2)
    eng.start([(MsgType.PING, b"")] * 3)
    assert [m.seq for m in frames(eng.data_to_send(0.0))] == [101, 102]
    eng.receive_data(b"\x05garbage\x00", 0.001)  # a corrupted reply: resend soon, not after the timeout
    assert eng.stats["bad_frames"] == 1
    assert [m.seq for m in frames(eng.data_to_send(0.0035))] == [101, 102]
    eng.receive_data(ack(101), 0.004)
    assert [m.seq for m in frames(eng.data_to_send(0.004))] == [103]


def test_the_wait_follows_the_measured_round_trip_with_the_timeout_as_floor():
    eng = engine()
    for k in range(20):  # replies that take 60 ms each
        eng.start([(MsgType.PING, b"")])
        t0 = k * 1.0
        eng.data_to_send(t0)
        eng.receive_data(ack(101 + k), t0 + 0.06)
    assert eng.srtt == pytest.approx(0.06)
    eng.start([(MsgType.PING, b"")])
    eng.data_to_send(100.0)
    assert eng.next_deadline() == pytest.approx(100.0 + 4 * 0.06)  # not resent at 100.1 while it is on its way
    assert eng.data_to_send(100.15) == b""
    fast = engine()
    fast.start([(MsgType.PING, b"")])
    fast.data_to_send(0.0)
    fast.receive_data(ack(101), 0.001)
    fast.start([(MsgType.PING, b"")])
    fast.data_to_send(1.0)
    assert fast.next_deadline() == pytest.approx(1.1)  # a fast board does not shorten the timeout
