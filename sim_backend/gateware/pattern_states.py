"""The executor's states that move pattern words: WRITE's unpacking, the packed span, the latch copy.

- W_NEXT / W_FETCH / W_GOT unpack a WRITE's codes (LSB first) into the shadow, one layer's field per word;
- PK_ISSUE ... PC_DONE pack a span of the shadow or active pattern LSB first, into READ's reply body or
  into the pattern CRC (``v.to_reply``);
- LATCH_WAIT ... LATCHED copy the shadow, a slot or zeros into the active pattern once the shift
  registers are idle, then start the shift out.

``v`` is the executor's :class:`~sim_backend.gateware.scope.Scope`.
"""

from __future__ import annotations

from amaranth.hdl import Mux

from sim_backend.gateware.requests import EMPTY, SRC_SHADOW, SRC_SLOT, after_crc
from sim_backend.gateware.scope import Scope

__all__ = ["advance_atom", "write_states", "packed_states", "latch_states"]


def advance_atom(m, v: Scope):
    """Step ``(layer, atom)`` to the next atom, on to the next layer after the last one."""
    with m.If(v.atom == v.p.atoms - 1):
        m.d.sync += [v.atom.eq(0), v.layer.eq(v.layer + 1)]
    with m.Else():
        m.d.sync += v.atom.eq(v.atom + 1)


def _pack(v: Scope, code):
    """(byte, byte ready, next acc, next bits) after ``code`` joins the bit stream (LSB first)."""
    B, acc, bits_in = v.p.bits, v.acc, v.bits_in
    joined = (acc | (code << bits_in))[:16]
    full = (bits_in + B) >= 8
    return joined[:8], full, Mux(full, joined >> 8, joined), Mux(full, bits_in + B - 8, bits_in + B)


def write_states(m, v: Scope):
    """WRITE: unpack codes into the shadow."""
    B, L = v.p.bits, v.p.layers
    acc, bits_in, k, sh_w = v.acc, v.bits_in, v.k, v.sh_w
    with m.State("W_NEXT"):
        with m.If(bits_in >= B):
            m.d.comb += [sh_w.addr.eq(v.atom), sh_w.data.eq(acc[:B].replicate(L)), sh_w.en.eq(1 << v.layer)]
            m.d.sync += [acc.eq(acc >> B), bits_in.eq(bits_in - B), k.eq(k + 1)]
            advance_atom(m, v)
            with m.If(k == v.count - 1):
                v.ack(EMPTY)
        with m.Else():
            m.next = "W_FETCH"
    with m.State("W_FETCH"):  # rx byte i is being read
        m.next = "W_GOT"
    with m.State("W_GOT"):
        m.d.sync += [acc.eq(acc | (v.rx.read_data << bits_in)), bits_in.eq(bits_in + 8), v.i.eq(v.i + 1)]
        m.next = "W_NEXT"


def packed_states(m, v: Scope):
    """A span packed LSB first: READ's body or the CRC."""
    B, acc, bits_in, k = v.p.bits, v.acc, v.bits_in, v.k

    def packed(byte):
        with m.If(v.to_reply):
            v.emit(byte)
        with m.Else():
            m.d.comb += [v.pc_byte.eq(byte), v.pc_en.eq(1)]

    with m.State("PK_ISSUE"):  # the word of ``atom`` is being read from the bank
        m.next = "PK_USE"
    with m.State("PK_USE"):
        byte, full, nacc, nbits = _pack(v, Mux(v.bank, v.ac_r.data, v.sh_r.data).word_select(v.layer, B))
        m.d.sync += [acc.eq(nacc), bits_in.eq(nbits), k.eq(k + 1)]
        with m.If(full):
            packed(byte)
        advance_atom(m, v)
        with m.If(k == v.count - 1):
            m.next = "PK_FLUSH"
        with m.Else():
            m.next = "PK_ISSUE"
    with m.State("PK_FLUSH"):
        with m.If(bits_in != 0):
            packed(acc[:8])
            m.d.sync += bits_in.eq(0)
        m.d.sync += v.i.eq(0)
        with m.If(v.to_reply):
            m.next = "CRC"
        with m.Else():
            m.next = "PC_FINAL"
    with m.State("PC_FINAL"):
        m.d.sync += v.pcrc.eq(~v.pcrc)  # zlib's CRC-32 is the register's complement
        m.next = "PC_DONE"
    with m.State("PC_DONE"):
        after_crc(m, v)


def latch_states(m, v: Scope):
    """Latching: copy into the active pattern."""
    i, r, latching, sh_r = v.i, v.r, v.latching, v.sh_r
    with m.State("LATCH_WAIT"):
        m.d.comb += latching.eq(1)
        with m.If(~v.sh.busy):
            m.d.sync += i.eq(0)
            m.next = "CP_ISSUE"
    with m.State("CP_ISSUE"):
        m.d.comb += [latching.eq(1), sh_r.addr.eq(i)]
        m.next = "CP_USE"
    with m.State("CP_USE"):
        m.d.comb += [latching.eq(1), sh_r.addr.eq(i)]
        data = Mux(v.src == SRC_SHADOW, sh_r.data, Mux(v.src == SRC_SLOT, v.sl_r.data, 0))
        m.d.comb += [v.ac_w.addr.eq(i), v.ac_w.data.eq(data), v.ac_w.en.eq(1)]
        m.d.sync += i.eq(i + 1)
        with m.If(i == v.p.atoms - 1):
            m.next = "LATCHED"
        with m.Else():
            m.next = "CP_ISSUE"
    with m.State("LATCHED"):
        m.d.comb += [latching.eq(1), v.sh.start.eq(1)]
        m.d.sync += [r["active_crc"].eq(v.latch_crc), r["safe"].eq(v.latch_safe)]
        with m.If(v.latch_counts):
            m.d.sync += r["latch_count"].eq(r["latch_count"] + 1)
        with m.If(v.latch_build):
            m.next = "BUILD"
        with m.Else():
            m.next = "IDLE"
