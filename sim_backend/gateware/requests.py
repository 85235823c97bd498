"""The executor's per-request logic: the checks of ``SMPFirmware._handle`` and each ``_do_*``, in its order.

These functions add the DISPATCH and PC_DONE states' statements to the executor's module; ``v`` is the
executor's namespace (its registers and helpers), so each request reads like the firmware method it
mirrors (``sim_backend/smp_firmware.py``).
"""

from __future__ import annotations

from amaranth.hdl import Const

from drivers.features import Feature
from drivers.sequence import SequenceMode, SequenceState
from drivers.smp import FIXED_REQUEST_BODY, MsgType, NakCode
from drivers.smp_messages import SeqDefine, Write
from sim_backend.gateware.params import FEATURES

__all__ = ["dispatch", "after_crc", "EMPTY", "HELLO", "LATCH", "SLOTCRC", "SEQPOS", "STATUS", "READ", "NAK", "EVENT",
           "SRC_SHADOW", "SRC_SLOT", "SRC_ZERO", "IDLE_", "ARMED", "RUNNING", "HOST", "TRIGGER"]

# reply bodies
EMPTY, HELLO, LATCH, SLOTCRC, SEQPOS, STATUS, READ, NAK, EVENT = range(9)
# where a pattern CRC pass returns
RET_COMMIT, RET_STORE, RET_STATUS = range(3)
# what a latch copies into the active pattern
SRC_SHADOW, SRC_SLOT, SRC_ZERO = range(3)
IDLE_, ARMED, RUNNING = int(SequenceState.IDLE), int(SequenceState.ARMED), int(SequenceState.RUNNING)
HOST, TRIGGER = int(SequenceMode.HOST), int(SequenceMode.TRIGGER)
HEAD, COUNT = Write.HEAD.size, SeqDefine.N.size  # WRITE's head before its codes, SEQ_DEFINE's before its slots
REQUESTS = {int(t) for t in MsgType if 0 < t < 0x80}
NOT_REQUESTS = (int(MsgType.ACK), int(MsgType.NAK), int(MsgType.EVENT))


def dispatch(m, p, v):
    """The DISPATCH state: the checks of ``SMPFirmware._handle`` and each ``_do_*``, in its order."""
    r, arg, blen, typ = v["r"], v["arg"], v["blen"], v["typ"]
    nak, span_bad, state, B = v["nak"], v["span_bad"], r["seq_state"], p.bits
    with m.If(v["ver"] != 2):
        nak(NakCode.BAD_VERSION, 2)
    with m.Elif((typ == NOT_REQUESTS[0]) | (typ == NOT_REQUESTS[1]) | (typ == NOT_REQUESTS[2])):
        nak(NakCode.NOT_A_REQUEST, typ)
    with m.Elif((typ == 0) | (typ > max(REQUESTS))):
        nak(NakCode.UNKNOWN_TYPE, typ)
    with m.Elif((typ == int(MsgType.SEQ_RANDOM)) & ~Const(int(FEATURES & Feature.RANDOM_SEQUENCE) != 0)):
        nak(NakCode.UNSUPPORTED, typ)
    with m.Else():
        with m.Switch(typ):
            for t, size in FIXED_REQUEST_BODY.items():
                with m.Case(int(t)):
                    with m.If(blen != size):
                        nak(NakCode.BAD_LENGTH, blen)
                    with m.Else():
                        _execute(m, p, v, t)
            with m.Case(int(MsgType.WRITE)):
                lay, off, cnt = arg[:8], arg[8:24], arg[24:40]
                with m.If(blen < HEAD):
                    nak(NakCode.BAD_LENGTH, blen)
                with m.Elif(span_bad(lay, off, cnt)):
                    nak(NakCode.BAD_ARGUMENT, lay)
                with m.Elif(((cnt * B + 7) >> 3) != blen - HEAD):
                    nak(NakCode.BAD_LENGTH, blen - HEAD)
                with m.Else():
                    m.d.sync += [v["layer"].eq(lay), v["atom"].eq(off), v["count"].eq(cnt), v["k"].eq(0),
                                 v["i"].eq(8 + HEAD), v["acc"].eq(0), v["bits_in"].eq(0)]
                    m.next = "W_NEXT"
            with m.Case(int(MsgType.SEQ_DEFINE)):
                n = arg[:16]
                with m.If((blen < COUNT) | (blen != COUNT + 2 * n)):
                    nak(NakCode.BAD_LENGTH, blen)
                with m.Elif(n == 0):
                    nak(NakCode.BAD_ARGUMENT, 0)
                with m.Elif(state != IDLE_):
                    nak(NakCode.SEQ_STATE, state)
                with m.Else():
                    m.d.sync += [v["count"].eq(n), v["k"].eq(0), v["i"].eq(8 + COUNT), v["defining"].eq(0)]
                    m.next = "DF_LO"

def _execute(m, p, v, t):
    """A request whose body length is right."""
    r, arg = v["r"], v["arg"]
    nak, ack, pattern_crc, span_bad = v["nak"], v["ack"], v["pattern_crc"], v["span_bad"]
    state, mode = r["seq_state"], r["seq_mode"]
    if t == MsgType.HELLO:
        with m.If(arg[:32] != v["session"]):
            m.d.sync += [v["cache_valid"].eq(0), v["session"].eq(arg[:32])]
        ack(HELLO)
    elif t == MsgType.COMMIT:
        pattern_crc(RET_COMMIT)
    elif t == MsgType.STATUS:
        pattern_crc(RET_STATUS)
    elif t == MsgType.READ:
        bank, lay, off, cnt = arg[:8], arg[8:16], arg[16:32], arg[32:48]
        with m.If(span_bad(lay, off, cnt)):
            nak(NakCode.BAD_ARGUMENT, lay)
        with m.Elif((bank > 1) | (cnt > p.max_read)):
            nak(NakCode.BAD_ARGUMENT, bank)
        with m.Else():
            m.d.sync += [v["bank"].eq(bank[0]), v["layer"].eq(lay), v["atom"].eq(off), v["count"].eq(cnt),
                         v["k"].eq(0), v["acc"].eq(0), v["bits_in"].eq(0)]
            ack(READ)
    elif t == MsgType.SLOT_STORE:
        with m.If(arg[:16] >= p.slots):
            nak(NakCode.NO_SUCH_SLOT, arg[:16])
        with m.Else():
            m.d.sync += v["slot"].eq(arg[:8])
            pattern_crc(RET_STORE)
    elif t == MsgType.SLOT_LOAD:
        with m.If(arg[:16] >= p.slots):
            nak(NakCode.NO_SUCH_SLOT, arg[:16])
        with m.Elif(~v["slot_valid"].bit_select(arg[:8], 1)):
            nak(NakCode.EMPTY_SLOT, arg[:16])
        with m.Else():
            m.d.sync += [v["slot"].eq(arg[:8]), v["bsel"].eq(LATCH), v["nak_code"].eq(0)]
            m.next = "SLOT_CRC"
    elif t == MsgType.SEQ_ARM:
        arm_mode, loop, period = arg[:8], arg[8:16], arg[16:48]
        with m.If((arm_mode > 2) | ((arm_mode == int(SequenceMode.TIMER)) & (period == 0))):
            nak(NakCode.BAD_ARGUMENT, arm_mode)
        with m.Elif(arm_mode == int(SequenceMode.TIMER)):
            nak(NakCode.UNSUPPORTED, arm_mode)
        with m.Elif((v["seq_len"] == 0) | (state == RUNNING)):
            nak(NakCode.SEQ_STATE, state)
        with m.Else():
            m.d.sync += [mode.eq(arm_mode), v["seq_loop"].eq(loop != 0), state.eq(ARMED), r["seq_pos"].eq(0),
                         r["seq_steps"].eq(0), r["seq_missed"].eq(0)]
            ack(EMPTY)
    elif t == MsgType.SEQ_START:
        with m.If(state != ARMED):
            nak(NakCode.SEQ_STATE, state)
        with m.Else():
            m.d.sync += [state.eq(RUNNING), v["i"].eq(0)]
            m.next = "SEQ_SLOT"
    elif t == MsgType.SEQ_STOP:
        m.d.sync += state.eq(IDLE_)
        ack(SEQPOS)
    elif t == MsgType.SEQ_STEP:
        with m.If((state != RUNNING) | (mode != HOST)):
            nak(NakCode.SEQ_STATE, state)
        with m.Else():
            m.next = "STEP"
    elif t == MsgType.RESET:
        m.d.sync += v["after_reset"].eq(1)
        ack(EMPTY)
    elif t == MsgType.PING:
        ack(EMPTY)
    elif t == MsgType.WATCHDOG:
        m.d.sync += r["watchdog_ms"].eq(arg[:16])
        ack(EMPTY)

def after_crc(m, v):
    """PC_DONE: the shadow's pattern CRC is in ``pcrc``; COMMIT, SLOT_STORE or STATUS goes on."""
    r, pcrc, arg = v["r"], v["pcrc"], v["arg"]
    nak, ack, latch = v["nak"], v["ack"], v["latch"]
    with m.Switch(v["pc_ret"]):
        with m.Case(RET_COMMIT):
            with m.If(pcrc != arg[:32]):
                nak(NakCode.CRC_MISMATCH, 0)
            with m.Else():
                m.d.sync += [v["bsel"].eq(LATCH), v["nak_code"].eq(0)]
                latch(SRC_SHADOW, pcrc)
        with m.Case(RET_STORE):
            with m.If(pcrc != arg[16:48]):
                nak(NakCode.CRC_MISMATCH, 0)
            with m.Elif((r["seq_state"] == RUNNING) & (v["seq_len"] != 0)):
                m.d.sync += v["i"].eq(0)
                m.next = "ST_SCAN"
            with m.Else():
                m.d.sync += v["i"].eq(0)
                m.next = "ST_ISSUE"
        with m.Case(RET_STATUS):
            m.d.sync += r["shadow_crc"].eq(pcrc)
            ack(STATUS)
