"""Board-side defects, one test each: impossible HELLO, malformed events, unbounded line noise."""

import threading

import pytest
from transcript import SMP_PUSH, ScriptedLink

from drivers.board import BoardRefused
from drivers.open_ris import MAX_LINE, OpenRISBoard
from drivers.smp import EventKind, MsgType, SMPMessage, encode_frame
from drivers.smp_board import SMPBoard
from drivers.smp_host import HostEngine
from drivers.smp_messages import HelloInfo


def hello_reply(**changes) -> str:
    h = HelloInfo.unpack(_hello_body())
    fields = {**h.__dict__, **changes}
    return encode_frame(SMPMessage(MsgType.ACK, 1, HelloInfo(**fields).pack(), version=2)).hex()


def _hello_body() -> bytes:
    from drivers.smp import FrameDecoder

    (msg,) = FrameDecoder().feed(bytes.fromhex(SMP_PUSH[0][1]))
    return msg.body


@pytest.mark.parametrize(
    "changes", [dict(bits=0), dict(bits=17), dict(layers=0), dict(max_frame=12), dict(max_frame=13, bits=16)]
)
def test_a_board_that_describes_itself_impossibly_is_refused(changes):
    link = ScriptedLink([(SMP_PUSH[0][0], hello_reply(**changes))])
    with pytest.raises(BoardRefused, match="impossibly"):
        SMPBoard(link, first_seq=0, session=0x5E55).open()


def test_malformed_events_are_counted():
    eng = HostEngine(first_seq=0)
    eng.start([(MsgType.PING, b"")])
    eng.data_to_send(0.0)
    bad = encode_frame(SMPMessage(MsgType.EVENT, 0, bytes([EventKind.BOOT, 1, 2])))  # 3 bytes where 9 belong
    eng.receive_data(bad + encode_frame(SMPMessage(MsgType.ACK, 1, b"")), 0.01)
    assert eng.done and eng.stats["bad_events"] == 1 and eng.take_reset() is None


class NoisyLink:
    """A link that delivers ``noise`` (no line end) and then one good reply line."""

    url, byte_time = "noise://", 0.0

    def __init__(self, noise: bytes, reply: bytes):
        self.chunks = [noise[i : i + 100] for i in range(0, len(noise), 100)] + [reply]
        self.lock, self.is_open = threading.RLock(), True

    def write(self, data):
        pass

    def read_some(self):
        return self.chunks.pop(0) if self.chunks else b""

    def open(self):
        self.is_open = True

    def close(self):
        pass

    def discard_input(self):
        pass


def test_open_ris_line_noise_is_bounded():
    board = OpenRISBoard(NoisyLink(b"\x55" * 100_000, b"\n#05.02 V\n"), timeout=5.0)  # noise, then a line
    assert board.query(b"?Vext\n") == b"#05.02 V"
    assert board.dropped_bytes >= 100_000 - MAX_LINE and len(board._buf) <= MAX_LINE + 100
