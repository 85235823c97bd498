"""What the executor runs besides the frames: the clock, the error counters, the trigger pin and the boot.

:func:`clocks_counters_and_pins` counts milliseconds (uptime and the quiet time the watchdog
compares), the receiver's errors and the missed sequence steps, and turns a trigger pulse into a
pending step (or a missed one while a latch is under way); :func:`boot_state` is the BOOT state
(power-up and RESET): the shadow cleared, the registers zeroed, a new boot id, the safe pattern
latched. ``v`` is the executor's :class:`~sim_backend.gateware.scope.Scope`.
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Signal

from sim_backend.gateware.requests import HOST, IDLE_, RUNNING, SRC_ZERO, TRIGGER
from sim_backend.gateware.scope import Scope

__all__ = ["clocks_counters_and_pins", "boot_state"]


def clocks_counters_and_pins(m, v: Scope, trigger):
    """The statements that run every cycle; returns whether the watchdog fires (an expression).
    ``trigger`` is the debouncer's one-cycle pulse."""
    p, r, rx, ms_div, quiet_ms, trig_pending = v.p, v.r, v.rx, v.ms_div, v.quiet_ms, v.trig_pending
    m.d.sync += v.cycles.eq(v.cycles + 1)
    with m.If(ms_div == p.ms_cycles - 1):
        m.d.sync += [ms_div.eq(0), r["uptime_ms"].eq(r["uptime_ms"] + 1)]
        with m.If(~quiet_ms[16]):
            m.d.sync += quiet_ms.eq(quiet_ms + 1)
    with m.Else():
        m.d.sync += ms_div.eq(ms_div + 1)
    with m.If(rx.accepted):
        m.d.sync += quiet_ms.eq(0)
    m.d.sync += [
        r["crc_errors"].eq(r["crc_errors"] + rx.crc_error),
        r["framing_errors"].eq(r["framing_errors"] + rx.framing_error),
        r["overruns"].eq(r["overruns"] + rx.overrun),
    ]
    with m.If(rx.frame_error):
        m.d.sync += v.ev_frame.eq(1)
    missed_pin = Signal()
    m.d.sync += r["seq_missed"].eq(r["seq_missed"] + v.missed_exec + missed_pin)
    with m.If(trigger & (r["seq_state"] == RUNNING) & (r["seq_mode"] == TRIGGER)):
        with m.If(v.sh.busy | v.latching | trig_pending):
            m.d.comb += missed_pin.eq(1)  # a latch is still in progress: the step is lost
        with m.Else():
            m.d.sync += trig_pending.eq(1)
    return (r["watchdog_ms"] != 0) & ~r["safe"] & (quiet_ms > r["watchdog_ms"])


def boot_state(m, v: Scope):
    """Boot: power-up and RESET."""
    p, r, i, sh_w = v.p, v.r, v.i, v.sh_w
    with m.State("BOOT"):
        m.d.comb += [sh_w.addr.eq(i), sh_w.data.eq(0), sh_w.en.eq((1 << p.layers) - 1)]
        m.d.sync += i.eq(i + 1)
        with m.If(i == p.atoms - 1):
            boot = Const(p.boot_seed, 32) ^ v.cycles
            m.d.sync += [
                r[name].eq(0)
                for name in (
                    "uptime_ms",
                    "latch_count",
                    "crc_errors",
                    "framing_errors",
                    "overruns",
                    "naks",
                    "seq_pos",
                    "seq_steps",
                    "seq_missed",
                    "watchdog_ms",
                )
            ]
            m.d.sync += [
                r["boot_id"].eq(Mux(boot == 0, 1, boot)),
                r["seq_state"].eq(IDLE_),
                r["seq_mode"].eq(HOST),
                v.seq_len.eq(0),
                v.slot_valid.eq(0),
                v.cache_valid.eq(0),
                v.event_seq.eq(0),
                v.ev_boot.eq(1),
                v.ev_wd.eq(0),
                v.ev_frame.eq(0),
                v.trig_pending.eq(0),
                v.quiet_ms.eq(0),
                v.ms_div.eq(0),
            ]
            v.latch(SRC_ZERO, p.safe_crc, counts=False, build=False, safe=True)
