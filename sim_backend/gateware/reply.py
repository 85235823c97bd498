"""The reply (or event) the executor builds: each body's fixed layout, and the states that write header,
body, slot list and CRC into the reply buffer and hand the entry to the transmitter (docs/protocol.md).
"""

from __future__ import annotations

from typing import NamedTuple

from amaranth.hdl import Cat, Const, Mux, Signal

from drivers.smp import MsgType
from sim_backend.gateware.crc import INIT
from sim_backend.gateware.layout import hello_info, le, status_head
from sim_backend.gateware.params import FEATURES
from sim_backend.gateware.requests import EVENT, HELLO, LATCH, NAK, READ, SEQPOS, SLOTCRC, STATUS
from sim_backend.gateware.scope import Scope

__all__ = ["Reply", "reply_layout", "reply_states"]


class Reply(NamedTuple):
    """The body length, body byte i of the fixed layout, and the 8-byte header of the reply being built."""

    body_len: Signal
    body_byte: Signal
    head_vec: object


def reply_layout(m, v: Scope) -> Reply:
    """The body of each reply kind, muxed by ``bsel`` (combinational, outside the state machine)."""
    p, r, i, count, pcrc, nak_code, nak_detail = v.p, v.r, v.i, v.count, v.pcrc, v.nak_code, v.nak_detail
    event_kind, event_data, event_seq, bsel, from_frame = v.event_kind, v.event_data, v.event_seq, v.bsel, v.from_frame
    seq = v.seq
    S, B = p.slots, p.bits
    body_len = Signal(16)
    body_byte = Signal(8)  # byte i of the body's fixed layout: each layout muxed on its own, then by bsel
    read_bytes = (count * B + 7) >> 3
    layouts = {
        HELLO: hello_info(p, r["boot_id"], int(FEATURES)),
        LATCH: le((r["active_crc"], 4), (r["latch_count"], 4)),
        SLOTCRC: le((pcrc, 4)),
        SEQPOS: le((r["seq_pos"], 2), (r["seq_steps"], 4)),
        STATUS: status_head(r, p),  # its slot list follows, streamed
        NAK: le((nak_code, 1), (nak_detail, 2)),
        EVENT: le((event_kind, 1), (r["boot_id"], 4), (event_data, 4)),
    }
    with m.Switch(bsel):
        for sel, vec in layouts.items():
            size = len(vec) // 8
            with m.Case(sel):
                m.d.comb += [
                    body_len.eq(size + (5 * S if sel == STATUS else 0)),
                    body_byte.eq(vec.word_select(i[: max(1, (size - 1).bit_length())], 8)),
                ]
        with m.Case(READ):
            m.d.comb += body_len.eq(read_bytes)
    rtype = Mux(from_frame, Mux(nak_code != 0, int(MsgType.NAK), int(MsgType.ACK)), int(MsgType.EVENT))
    head_vec = le(
        (Const(0x4D53, 16), 2), (Const(2, 8), 1), (rtype, 1), (Mux(from_frame, seq, event_seq), 2), (body_len, 2)
    )
    return Reply(body_len, body_byte, head_vec)


def reply_states(m, v: Scope, out: Reply):
    """BUILD to RELEASE: header, body (READ's packed codes through PK_*, STATUS's slot list), CRC, length, push."""
    r, i, k, seq, fp, wpos, rcrc, entry, entry_base = v.r, v.i, v.k, v.seq, v.fp, v.wpos, v.rcrc, v.entry, v.entry_base
    tg_r, tg_w, cache_valid, nak_code, tx, rx, emit = v.tg_r, v.tg_w, v.cache_valid, v.nak_code, v.tx, v.rx, v.emit
    bsel, to_reply, slot, slot_valid, sc_r, from_frame = v.bsel, v.to_reply, v.slot, v.slot_valid, v.sc_r, v.from_frame
    half, after_reset, boot_pending = v.half, v.after_reset, v.boot_pending
    S = v.p.slots
    body_len, body_byte, head_vec = out
    # -------------------------------------------------- building the reply (or an event)
    with m.State("BUILD"):
        m.d.sync += [wpos.eq(0), rcrc.eq(INIT), i.eq(0)]
        with m.If(from_frame):
            m.d.sync += entry.eq(seq[: len(tg_r.addr)])
            m.d.comb += [tg_w.addr.eq(seq[: len(tg_r.addr)]), tg_w.data.eq(Cat(seq, fp)), tg_w.en.eq(1)]
            m.d.sync += cache_valid.eq(cache_valid | (1 << seq[: len(tg_r.addr)]))
            with m.If(nak_code != 0):
                m.d.sync += r["naks"].eq(r["naks"] + 1)
        with m.Else():
            m.d.sync += entry.eq(tx.event_entry)
        m.next = "HEAD"
    with m.State("HEAD"):
        emit(head_vec.word_select(i[:3], 8))
        m.d.sync += i.eq(i + 1)
        with m.If(i == 7):
            m.d.sync += i.eq(0)
            with m.If(bsel == READ):
                m.d.sync += to_reply.eq(1)
                m.next = "PK_ISSUE"
            with m.Elif(body_len == 0):
                m.next = "CRC"
            with m.Else():
                m.next = "BODY"
    with m.State("BODY"):
        emit(body_byte)
        m.d.sync += i.eq(i + 1)
        with m.If((bsel == STATUS) & (i == 54)):
            m.d.sync += [slot.eq(0), k.eq(0)]
            m.next = "SL_ISSUE"
        with m.Elif(i == body_len - 1):
            m.d.sync += i.eq(0)
            m.next = "CRC"
    with m.State("SL_ISSUE"):  # slot_crc[slot] is being read
        m.next = "SL_EMIT"
    with m.State("SL_EMIT"):
        valid = slot_valid.bit_select(slot, 1)
        entry_vec = le((valid, 1), (Mux(valid, sc_r.data, 0), 4))
        emit(entry_vec.word_select(k[:3], 8))
        m.d.sync += k.eq(k + 1)
        with m.If(k == 4):
            m.d.sync += [k.eq(0), slot.eq(slot + 1)]
            with m.If(slot == S - 1):
                m.d.sync += i.eq(0)
                m.next = "CRC"
            with m.Else():
                m.next = "SL_ISSUE"
    with m.State("CRC"):
        emit((~rcrc).word_select(i[:2], 8), crc=False)
        m.d.sync += i.eq(i + 1)
        with m.If(i == 3):
            m.next = "LENGTH"
    with m.State("LENGTH"):
        m.d.comb += [tx.w_addr.eq(entry_base), tx.w_data.eq(wpos), tx.w_en.eq(1)]  # not through emit()
        m.next = "PUSH"
    with m.State("PUSH"):
        with m.If(~tx.queue_full):
            m.d.comb += [tx.push.eq(1), tx.push_entry.eq(entry)]
            with m.If(from_frame):
                m.next = "RELEASE"
            with m.Else():
                m.next = "IDLE"
    with m.State("RELEASE"):
        m.d.comb += [rx.release.eq(1), rx.release_half.eq(half)]
        m.d.sync += half.eq(~half)
        with m.If(after_reset):
            m.d.sync += [after_reset.eq(0), boot_pending.eq(1)]
        m.next = "IDLE"
