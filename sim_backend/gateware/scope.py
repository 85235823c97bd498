"""What the executor shares with the modules that add its states: its registers, memory ports and helpers.

:class:`~sim_backend.gateware.executor.Executor` builds one :class:`Scope` in ``elaborate`` and hands it to
:func:`~sim_backend.gateware.requests.dispatch`, :func:`~sim_backend.gateware.requests.after_crc`,
:func:`~sim_backend.gateware.requests.slot_store_and_define`, :func:`~sim_backend.gateware.requests.step_states`,
:mod:`sim_backend.gateware.pattern_states`, :mod:`sim_backend.gateware.housekeeping` and
:mod:`sim_backend.gateware.reply`, so each
names what it uses (``v.slot``, ``v.nak(...)``) as the firmware method it mirrors does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim_backend.gateware.params import GatewareParams

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    """The executor's names (Amaranth signals unless said otherwise)."""

    p: GatewareParams
    r: dict  # the registers STATUS reports, by name
    rx: Any  # the FrameReceiver
    tx: Any  # the Transmitter
    # the frame being executed: type, version, sequence number, body length, fingerprint, first body bytes
    typ: Any
    ver: Any
    seq: Any
    blen: Any
    fp: Any
    arg: Any
    half: Any  # which half of the receive buffer holds it
    # the reply being built
    nak_code: Any
    nak_detail: Any
    bsel: Any  # which body layout (requests.EMPTY ... EVENT)
    from_frame: Any  # a reply to a frame (else an event)
    after_reset: Any
    boot_pending: Any
    entry: Any  # the reply buffer entry
    entry_base: Any  # its first address (an expression)
    wpos: Any
    rcrc: Any
    to_reply: Any  # the packed stream goes into the reply (READ), not into the pattern CRC
    event_seq: Any
    event_kind: Any
    event_data: Any
    # work registers
    i: Any
    k: Any
    layer: Any
    atom: Any
    count: Any
    acc: Any
    bits_in: Any
    slot: Any
    pcrc: Any
    pc_ret: Any
    bank: Any
    session: Any
    seq_len: Any
    seq_loop: Any
    slot_valid: Any
    cache_valid: Any
    defining: Any
    # memory ports: shadow read, slots write, slot CRCs, sequence, reply-cache tags
    sh_r: Any
    sl_w: Any
    sc_r: Any
    sc_w: Any
    sq_r: Any
    sq_w: Any
    tg_r: Any
    tg_w: Any
    # the pattern moves: shadow write, active read and write, slots read, the shift registers (a ShiftOut)
    sh_w: Any
    ac_r: Any
    ac_w: Any
    sl_r: Any
    sh: Any
    # the latch under way: its source (requests.SRC_*), the CRC it sets, what it counts and builds after
    src: Any
    latch_crc: Any
    latch_counts: Any
    latch_build: Any
    latch_safe: Any
    latching: Any
    pc_byte: Any  # the byte entering the pattern CRC this cycle
    pc_en: Any
    missed_exec: Any  # a step past a sequence's end that does not loop
    # between frames: the cycle count (the boot id's seed), the millisecond divider, the quiet time since
    # the last accepted frame, the events waiting to be sent and a trigger step waiting to run
    cycles: Any
    ms_div: Any
    quiet_ms: Any
    ev_boot: Any
    ev_wd: Any
    ev_frame: Any
    trig_pending: Any
    # helpers that add statements and choose the next state
    nak: Callable
    ack: Callable
    pattern_crc: Callable
    latch: Callable
    span_bad: Callable
    emit: Callable
