"""The frame executor: one accepted frame at a time, in arrival order (docs/protocol.md).

It owns the pattern RAM (shadow, active, slots: one word per atom holding every layer's code, so
a latch copies ``atoms`` words and the shift registers of all layers are fed in parallel), the
sequencer, the counters and the reply cache. For a frame it looks up the cache (a repeated
sequence number with the same CRC field is answered again, not executed again), checks version,
type, length and arguments in the order the Python firmware does, executes, and builds the ACK or
NAK into the reply buffer entry of its sequence number, computing the reply's CRC as it writes.
Between frames it runs what the clock and the pins ask for: the boot, the watchdog's safe pattern,
trigger steps and the events (BOOT, WATCHDOG, FRAME_ERROR). The states that move pattern words are
in :mod:`~sim_backend.gateware.pattern_states`, the requests' in :mod:`~sim_backend.gateware.requests`,
the clock, counters, trigger pin and BOOT state in :mod:`~sim_backend.gateware.housekeeping`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory

from drivers.smp import EventKind
from sim_backend.gateware.crc import INIT, crc32_byte
from sim_backend.gateware.housekeeping import boot_state, clocks_counters_and_pins
from sim_backend.gateware.params import GatewareParams
from sim_backend.gateware.pattern_states import latch_states, packed_states, write_states
from sim_backend.gateware.reply import reply_layout, reply_states
from sim_backend.gateware.requests import (
    EVENT,
    IDLE_,
    NAK,
    RUNNING,
    SRC_ZERO,
    TRIGGER,
    dispatch,
    slot_store_and_define,
    step_states,
)
from sim_backend.gateware.scope import Scope

__all__ = ["Executor"]


class Executor(Elaboratable):
    """Executes the frames of ``rx`` (a FrameReceiver), replies through ``tx`` (a Transmitter) and latches
    through ``shift`` (a ShiftOut), for a board of parameters ``p``."""

    def __init__(self, p: GatewareParams, rx, tx, shift):
        self.p, self.rx, self.tx, self.shift = p, rx, tx, shift
        self.trigger = Signal()  # one-cycle pulse from the debouncer
        self.safe = Signal(init=1)
        self.latch_count = Signal(32)
        self.busy = Signal()
        self.boot_id = Signal(32)

    def elaborate(self, platform):  # noqa: C901 - one state machine, read top to bottom
        m = Module()
        p, rx, tx, sh = self.p, self.rx, self.tx, self.shift
        L, N, B, S, C, MF = p.layers, p.atoms, p.bits, p.slots, p.reply_cache, p.frame
        W = L * B

        # ------------------------------------------------------------ memories
        m.submodules.shadow = shadow = Memory(shape=W, depth=N, init=[])
        m.submodules.active = active = Memory(shape=W, depth=N, init=[])
        m.submodules.slots = slots = Memory(shape=W, depth=S * N, init=[])
        m.submodules.slot_crc = slot_crc = Memory(shape=32, depth=S, init=[])
        m.submodules.seqmem = seqmem = Memory(shape=8, depth=p.seq_max, init=[])
        m.submodules.tags = tags = Memory(shape=48, depth=C, init=[])
        sh_w, sh_r = shadow.write_port(granularity=B), shadow.read_port()
        ac_w, ac_r, ac_shift = active.write_port(), active.read_port(), active.read_port()
        sl_w, sl_r = slots.write_port(), slots.read_port()
        sc_w, sc_r = slot_crc.write_port(), slot_crc.read_port()
        sq_w, sq_r = seqmem.write_port(), seqmem.read_port()
        tg_w, tg_r = tags.write_port(), tags.read_port()
        m.d.comb += [ac_shift.addr.eq(sh.addr), sh.word.eq(ac_shift.data)]

        # ------------------------------------------------------------ registers
        r = {
            k: Signal(w, name=k)
            for k, w in dict(
                boot_id=32,
                uptime_ms=32,
                active_crc=32,
                shadow_crc=32,
                latch_count=32,
                crc_errors=32,
                framing_errors=32,
                overruns=32,
                naks=32,
                seq_state=2,
                seq_mode=2,
                seq_pos=16,
                seq_steps=32,
                seq_missed=32,
                watchdog_ms=16,
                safe=1,
            ).items()
        }
        m.d.comb += [self.safe.eq(r["safe"]), self.latch_count.eq(r["latch_count"]), self.boot_id.eq(r["boot_id"])]
        half, typ, ver, seq, blen, fp = (Signal(), Signal(8), Signal(8), Signal(16), Signal(16), Signal(32))
        arg = Signal(64)
        nak_code, nak_detail = Signal(8), Signal(16)
        bsel, from_frame, after_reset = Signal(4), Signal(), Signal()
        entry, wpos, rcrc = Signal(range(C + 1)), Signal(9), Signal(32)
        i, k = Signal(16), Signal(16)
        layer, atom = Signal(range(L + 1)), Signal(range(N + 1))
        count = Signal(16)
        acc, bits_in = Signal(16), Signal(5)
        slot = Signal(8)
        pcrc = Signal(32)
        pc_ret, src = Signal(2), Signal(2)
        latch_crc, latch_counts, latch_build, latch_safe = Signal(32), Signal(), Signal(), Signal()
        bank = Signal()
        to_reply = Signal()  # the packed stream goes into the reply (READ), not into the pattern CRC
        session = Signal(32)
        seq_len, seq_loop = Signal(8), Signal()
        slot_valid = Signal(S)
        cache_valid = Signal(C)
        event_seq, event_kind, event_data = Signal(16), Signal(8), Signal(32)
        boot_pending = Signal(init=1)
        ev_boot, ev_wd, ev_frame = Signal(), Signal(), Signal()
        trig_pending = Signal()
        defining = Signal()  # SEQ_DEFINE's second pass (writing) after the first (checking)
        cycles = Signal(32)
        ms_div = Signal(range(p.ms_cycles))
        quiet_ms = Signal(17)
        latching = Signal()
        missed_exec = Signal()  # a step past a sequence's end that does not loop

        # ------------------------------------------------------------ helpers
        rx_base = Mux(half, MF, 0)
        entry_base = entry * p.entry

        e_byte, e_en, e_crc = Signal(8), Signal(), Signal()  # the reply byte written this cycle
        pc_byte, pc_en = Signal(8), Signal()  # the pattern byte entering the pattern CRC this cycle

        def emit(byte, crc=True):
            m.d.comb += [e_byte.eq(byte), e_en.eq(1), e_crc.eq(crc)]

        def nak(code, detail=0):
            m.d.sync += [nak_code.eq(int(code)), nak_detail.eq(detail), bsel.eq(NAK)]
            m.next = "BUILD"

        def ack(sel):
            m.d.sync += [nak_code.eq(0), bsel.eq(sel)]
            m.next = "BUILD"

        def pattern_crc(ret):
            m.d.sync += [
                pc_ret.eq(ret),
                layer.eq(0),
                atom.eq(0),
                k.eq(0),
                acc.eq(0),
                bits_in.eq(0),
                pcrc.eq(INIT),
                bank.eq(0),
                count.eq(L * N),
                to_reply.eq(0),
            ]
            m.next = "PK_ISSUE"

        def latch(source, crc, counts=True, build=True, safe=False):
            m.d.sync += [
                src.eq(source),
                latch_crc.eq(crc),
                latch_counts.eq(counts),
                latch_build.eq(build),
                latch_safe.eq(safe),
                i.eq(0),
            ]
            m.next = "LATCH_WAIT"

        def span_bad(lay, off, cnt):
            return (lay >= L) | (off >= N) | (cnt == 0) | ((lay * N + off + cnt) > L * N)

        v = Scope(
            p=p,
            r=r,
            rx=rx,
            tx=tx,
            typ=typ,
            ver=ver,
            seq=seq,
            blen=blen,
            fp=fp,
            arg=arg,
            half=half,
            nak_code=nak_code,
            nak_detail=nak_detail,
            bsel=bsel,
            from_frame=from_frame,
            after_reset=after_reset,
            boot_pending=boot_pending,
            entry=entry,
            entry_base=entry_base,
            wpos=wpos,
            rcrc=rcrc,
            to_reply=to_reply,
            event_seq=event_seq,
            event_kind=event_kind,
            event_data=event_data,
            i=i,
            k=k,
            layer=layer,
            atom=atom,
            count=count,
            acc=acc,
            bits_in=bits_in,
            slot=slot,
            pcrc=pcrc,
            pc_ret=pc_ret,
            bank=bank,
            session=session,
            seq_len=seq_len,
            seq_loop=seq_loop,
            slot_valid=slot_valid,
            cache_valid=cache_valid,
            defining=defining,
            sh_r=sh_r,
            sl_w=sl_w,
            sc_r=sc_r,
            sc_w=sc_w,
            sq_r=sq_r,
            sq_w=sq_w,
            tg_r=tg_r,
            tg_w=tg_w,
            sh_w=sh_w,
            ac_r=ac_r,
            ac_w=ac_w,
            sl_r=sl_r,
            sh=sh,
            src=src,
            latch_crc=latch_crc,
            latch_counts=latch_counts,
            latch_build=latch_build,
            latch_safe=latch_safe,
            latching=latching,
            pc_byte=pc_byte,
            pc_en=pc_en,
            missed_exec=missed_exec,
            cycles=cycles,
            ms_div=ms_div,
            quiet_ms=quiet_ms,
            ev_boot=ev_boot,
            ev_wd=ev_wd,
            ev_frame=ev_frame,
            trig_pending=trig_pending,
            nak=nak,
            ack=ack,
            pattern_crc=pattern_crc,
            latch=latch,
            span_bad=span_bad,
            emit=emit,
        )
        wd_fire = clocks_counters_and_pins(m, v, self.trigger)
        m.d.comb += [tx.w_addr.eq(entry_base + 1 + wpos), tx.w_data.eq(e_byte), tx.w_en.eq(e_en)]
        with m.If(e_en):
            m.d.sync += wpos.eq(wpos + 1)
            with m.If(e_crc):
                m.d.sync += rcrc.eq(crc32_byte(rcrc, e_byte))
        with m.If(pc_en):
            m.d.sync += pcrc.eq(crc32_byte(pcrc, pc_byte))
        out = reply_layout(m, v)

        # ------------------------------------------------------------ the state machine
        m.d.comb += [
            rx.read_addr.eq(rx_base + i),
            tg_r.addr.eq(seq[: len(tg_r.addr)]),
            sh_r.addr.eq(atom),
            ac_r.addr.eq(atom),
            sl_r.addr.eq(slot * N + i),
            sc_r.addr.eq(slot),
            sq_r.addr.eq(i),
        ]
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(boot_pending):
                    m.d.sync += [boot_pending.eq(0), i.eq(0)]
                    m.next = "BOOT"
                with m.Elif((ev_boot | ev_wd | ev_frame) & ~tx.event_busy):
                    kind = Mux(
                        ev_boot, int(EventKind.BOOT), Mux(ev_wd, int(EventKind.WATCHDOG), int(EventKind.FRAME_ERROR))
                    )
                    m.d.sync += [
                        event_kind.eq(kind),
                        event_data.eq(Mux(ev_boot | ~ev_wd, 0, r["watchdog_ms"])),
                        event_seq.eq(event_seq + 1),
                        bsel.eq(EVENT),
                        from_frame.eq(0),
                    ]
                    with m.If(ev_boot):
                        m.d.sync += ev_boot.eq(0)
                    with m.Elif(ev_wd):
                        m.d.sync += ev_wd.eq(0)
                    with m.Else():
                        m.d.sync += ev_frame.eq(0)
                    m.next = "BUILD"
                with m.Elif(wd_fire):
                    m.d.sync += [r["seq_state"].eq(IDLE_), ev_wd.eq(1)]
                    latch(SRC_ZERO, p.safe_crc, counts=False, build=False, safe=True)
                with m.Elif(trig_pending):
                    m.d.sync += [trig_pending.eq(0), from_frame.eq(0)]
                    with m.If((r["seq_state"] == RUNNING) & (r["seq_mode"] == TRIGGER)):
                        m.next = "STEP"
                with m.Elif(rx.full.bit_select(half, 1)):
                    m.d.sync += [
                        typ.eq(rx.type[half]),
                        ver.eq(rx.version[half]),
                        seq.eq(rx.seq[half]),
                        blen.eq(rx.length[half]),
                        fp.eq(rx.fingerprint[half]),
                        from_frame.eq(1),
                    ]
                    m.next = "LOOKUP"
            with m.State("LOOKUP"):  # the tag of seq mod C is being read
                m.next = "LOOKUP2"
            with m.State("LOOKUP2"):
                hit = cache_valid.bit_select(seq[: len(tg_r.addr)], 1) & (tg_r.data == Cat(seq, fp))
                with m.If(hit):
                    with m.If(~tx.queue_full):
                        m.d.comb += [tx.push.eq(1), tx.push_entry.eq(seq[: len(tg_r.addr)])]
                        m.next = "RELEASE"
                with m.Else():
                    m.d.sync += i.eq(8)
                    m.next = "ARGS"
            with m.State("ARGS"):  # body byte i - 8 is being read
                m.next = "ARGS2"
            with m.State("ARGS2"):
                m.d.sync += [arg.word_select((i - 8)[:3], 8).eq(rx.read_data), i.eq(i + 1)]
                with m.If(i == 15):
                    m.next = "DISPATCH"
                with m.Else():
                    m.next = "ARGS"
            with m.State("DISPATCH"):
                dispatch(m, v)
            write_states(m, v)
            packed_states(m, v)
            latch_states(m, v)
            step_states(m, v)
            slot_store_and_define(m, v)
            reply_states(m, v, out)
            boot_state(m, v)
        m.d.comb += self.busy.eq(
            ~fsm.ongoing("IDLE") | boot_pending | trig_pending | ev_boot | ev_wd | ev_frame | rx.full.any()
        )
        return m
