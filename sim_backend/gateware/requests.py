"""The executor's per-request logic: the checks of ``SMPFirmware._handle`` and each ``_do_*``, in its order.

These functions add the DISPATCH and PC_DONE states' statements, and the states SLOT_STORE and SEQ_DEFINE
go on in, and the sequencer's step, to the executor's module; ``v`` is the executor's :class:`~sim_backend.gateware.scope.Scope` (its
registers and helpers), so each request reads like the firmware method it mirrors
(``sim_backend/smp_firmware.py``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const

from drivers.features import Feature
from drivers.sequence import SequenceMode, SequenceState
from drivers.smp import FIXED_REQUEST_BODY, MsgType, NakCode
from drivers.smp_messages import SeqDefine, Write
from sim_backend.gateware.params import FEATURES
from sim_backend.gateware.scope import Scope

__all__ = [
    "dispatch",
    "after_crc",
    "slot_store_and_define",
    "step_states",
    "EMPTY",
    "HELLO",
    "LATCH",
    "SLOTCRC",
    "SEQPOS",
    "STATUS",
    "READ",
    "NAK",
    "EVENT",
    "SRC_SHADOW",
    "SRC_SLOT",
    "SRC_ZERO",
    "IDLE_",
    "ARMED",
    "RUNNING",
    "HOST",
    "TRIGGER",
]

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


def dispatch(m, v: Scope):
    """The DISPATCH state: the checks of ``SMPFirmware._handle`` and each ``_do_*``, in its order."""
    p, r, arg, blen, typ = v.p, v.r, v.arg, v.blen, v.typ
    nak, span_bad, state, B = v.nak, v.span_bad, r["seq_state"], p.bits
    with m.If(v.ver != 2):
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
                        _execute(m, v, t)
            with m.Case(int(MsgType.WRITE)):
                lay, off, cnt = arg[:8], arg[8:24], arg[24:40]
                with m.If(blen < HEAD):
                    nak(NakCode.BAD_LENGTH, blen)
                with m.Elif(span_bad(lay, off, cnt)):
                    nak(NakCode.BAD_ARGUMENT, lay)
                with m.Elif(((cnt * B + 7) >> 3) != blen - HEAD):
                    nak(NakCode.BAD_LENGTH, blen - HEAD)
                with m.Else():
                    m.d.sync += [
                        v.layer.eq(lay),
                        v.atom.eq(off),
                        v.count.eq(cnt),
                        v.k.eq(0),
                        v.i.eq(8 + HEAD),
                        v.acc.eq(0),
                        v.bits_in.eq(0),
                    ]
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
                    m.d.sync += [v.count.eq(n), v.k.eq(0), v.i.eq(8 + COUNT), v.defining.eq(0)]
                    m.next = "DF_LO"


def _execute(m, v: Scope, t):
    """A request whose body length is right."""
    p, r, arg = v.p, v.r, v.arg
    nak, ack, pattern_crc, span_bad = v.nak, v.ack, v.pattern_crc, v.span_bad
    state, mode = r["seq_state"], r["seq_mode"]
    if t == MsgType.HELLO:
        with m.If(arg[:32] != v.session):
            m.d.sync += [v.cache_valid.eq(0), v.session.eq(arg[:32])]
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
            m.d.sync += [
                v.bank.eq(bank[0]),
                v.layer.eq(lay),
                v.atom.eq(off),
                v.count.eq(cnt),
                v.k.eq(0),
                v.acc.eq(0),
                v.bits_in.eq(0),
            ]
            ack(READ)
    elif t == MsgType.SLOT_STORE:
        with m.If(arg[:16] >= p.slots):
            nak(NakCode.NO_SUCH_SLOT, arg[:16])
        with m.Else():
            m.d.sync += v.slot.eq(arg[:8])
            pattern_crc(RET_STORE)
    elif t == MsgType.SLOT_LOAD:
        with m.If(arg[:16] >= p.slots):
            nak(NakCode.NO_SUCH_SLOT, arg[:16])
        with m.Elif(~v.slot_valid.bit_select(arg[:8], 1)):
            nak(NakCode.EMPTY_SLOT, arg[:16])
        with m.Else():
            m.d.sync += [v.slot.eq(arg[:8]), v.bsel.eq(LATCH), v.nak_code.eq(0)]
            m.next = "SLOT_CRC"
    elif t == MsgType.SEQ_ARM:
        arm_mode, loop, period = arg[:8], arg[8:16], arg[16:48]
        with m.If((arm_mode > 2) | ((arm_mode == int(SequenceMode.TIMER)) & (period == 0))):
            nak(NakCode.BAD_ARGUMENT, arm_mode)
        with m.Elif(arm_mode == int(SequenceMode.TIMER)):
            nak(NakCode.UNSUPPORTED, arm_mode)
        with m.Elif((v.seq_len == 0) | (state == RUNNING)):
            nak(NakCode.SEQ_STATE, state)
        with m.Else():
            m.d.sync += [
                mode.eq(arm_mode),
                v.seq_loop.eq(loop != 0),
                state.eq(ARMED),
                r["seq_pos"].eq(0),
                r["seq_steps"].eq(0),
                r["seq_missed"].eq(0),
            ]
            ack(EMPTY)
    elif t == MsgType.SEQ_START:
        with m.If(state != ARMED):
            nak(NakCode.SEQ_STATE, state)
        with m.Else():
            m.d.sync += [state.eq(RUNNING), v.i.eq(0)]
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
        m.d.sync += v.after_reset.eq(1)
        ack(EMPTY)
    elif t == MsgType.PING:
        ack(EMPTY)
    elif t == MsgType.WATCHDOG:
        m.d.sync += r["watchdog_ms"].eq(arg[:16])
        ack(EMPTY)


def after_crc(m, v: Scope):
    """PC_DONE: the shadow's pattern CRC is in ``pcrc``; COMMIT, SLOT_STORE or STATUS goes on."""
    r, pcrc, arg = v.r, v.pcrc, v.arg
    nak, ack, latch = v.nak, v.ack, v.latch
    with m.Switch(v.pc_ret):
        with m.Case(RET_COMMIT):
            with m.If(pcrc != arg[:32]):
                nak(NakCode.CRC_MISMATCH, 0)
            with m.Else():
                m.d.sync += [v.bsel.eq(LATCH), v.nak_code.eq(0)]
                latch(SRC_SHADOW, pcrc)
        with m.Case(RET_STORE):
            with m.If(pcrc != arg[16:48]):
                nak(NakCode.CRC_MISMATCH, 0)
            with m.Elif((r["seq_state"] == RUNNING) & (v.seq_len != 0)):
                m.d.sync += v.i.eq(0)
                m.next = "ST_SCAN"
            with m.Else():
                m.d.sync += v.i.eq(0)
                m.next = "ST_ISSUE"
        with m.Case(RET_STATUS):
            m.d.sync += r["shadow_crc"].eq(pcrc)
            ack(STATUS)


def slot_store_and_define(m, v: Scope):
    """The states SLOT_STORE (after its CRC check) and SEQ_DEFINE (after its length check) go on in."""
    sq_r, slot, i, seq_len, nak, ack, sh_r, sl_w = v.sq_r, v.slot, v.i, v.seq_len, v.nak, v.ack, v.sh_r, v.sl_w
    sc_w, pcrc, slot_valid, rx, defining, sq_w, k = v.sc_w, v.pcrc, v.slot_valid, v.rx, v.defining, v.sq_w, v.k
    count = v.count
    N, S = v.p.atoms, v.p.slots
    # -------------------------------------------------- SLOT_STORE: a running sequence's slots are kept
    with m.State("ST_SCAN"):  # seqmem[i] is being read
        m.next = "ST_SCAN2"
    with m.State("ST_SCAN2"):
        with m.If(sq_r.data == slot):
            nak(NakCode.SEQ_STATE, slot)
        with m.Elif(i == seq_len - 1):
            m.d.sync += i.eq(0)
            m.next = "ST_ISSUE"
        with m.Else():
            m.d.sync += i.eq(i + 1)
            m.next = "ST_SCAN"
    with m.State("ST_ISSUE"):
        m.d.comb += sh_r.addr.eq(i)
        m.next = "ST_USE"
    with m.State("ST_USE"):
        m.d.comb += [sh_r.addr.eq(i), sl_w.addr.eq(slot * N + i), sl_w.data.eq(sh_r.data), sl_w.en.eq(1)]
        m.d.sync += i.eq(i + 1)
        with m.If(i == N - 1):
            m.d.comb += [sc_w.addr.eq(slot), sc_w.data.eq(pcrc), sc_w.en.eq(1)]
            m.d.sync += slot_valid.eq(slot_valid | (1 << slot))
            ack(SLOTCRC)
        with m.Else():
            m.next = "ST_ISSUE"
    # -------------------------------------------------- SEQ_DEFINE: check every slot, then write
    with m.State("DF_LO"):  # rx byte i (low byte of entry k) is being read
        m.next = "DF_LO2"
    with m.State("DF_LO2"):
        m.d.sync += [slot.eq(rx.read_data), i.eq(i + 1)]
        m.next = "DF_HI"
    with m.State("DF_HI"):
        m.next = "DF_HI2"
    with m.State("DF_HI2"):
        value = Cat(slot, rx.read_data)
        with m.If(~defining & (value >= S)):
            nak(NakCode.NO_SUCH_SLOT, value)
        with m.Elif(~defining & ~slot_valid.bit_select(slot, 1)):
            nak(NakCode.EMPTY_SLOT, value)
        with m.Else():
            with m.If(defining):
                m.d.comb += [sq_w.addr.eq(k), sq_w.data.eq(slot), sq_w.en.eq(1)]
            m.d.sync += [k.eq(k + 1), i.eq(i + 1)]
            with m.If(k == count - 1):
                with m.If(defining):
                    m.d.sync += seq_len.eq(count)
                    ack(EMPTY)
                with m.Else():
                    m.d.sync += [defining.eq(1), k.eq(0), i.eq(8 + COUNT)]
                    m.next = "DF_LO"
            with m.Else():
                m.next = "DF_LO"


def step_states(m, v: Scope):
    """The sequencer's step (SEQ_STEP or a trigger pin): the next position's slot is latched."""
    r, i, from_frame = v.r, v.i, v.from_frame
    with m.State("STEP"):
        with m.If(r["seq_pos"] + 1 >= v.seq_len):
            with m.If(~v.seq_loop):
                m.d.comb += v.missed_exec.eq(1)
                m.d.sync += r["seq_state"].eq(IDLE_)
                with m.If(from_frame):
                    v.nak(NakCode.SEQ_STATE, IDLE_)
                with m.Else():
                    m.next = "IDLE"
            with m.Else():
                m.d.sync += [r["seq_pos"].eq(0), i.eq(0), r["seq_steps"].eq(r["seq_steps"] + 1)]
                m.next = "SEQ_SLOT"
        with m.Else():
            m.d.sync += [
                r["seq_pos"].eq(r["seq_pos"] + 1),
                i.eq(r["seq_pos"] + 1),
                r["seq_steps"].eq(r["seq_steps"] + 1),
            ]
            m.next = "SEQ_SLOT"
    with m.State("SEQ_SLOT"):  # seqmem[i] is being read
        m.next = "SEQ_SLOT2"
    with m.State("SEQ_SLOT2"):
        m.d.sync += [v.slot.eq(v.sq_r.data), v.bsel.eq(SEQPOS), v.nak_code.eq(0)]
        m.next = "SLOT_CRC"
    with m.State("SLOT_CRC"):  # slot_crc[slot] is being read
        m.next = "SLOT_CRC2"
    with m.State("SLOT_CRC2"):
        v.latch(SRC_SLOT, v.sc_r.data, build=from_frame)
