"""Reply bodies as bit vectors (little-endian fields, as ``drivers/smp_messages.py`` packs them).

The executor emits a fixed-layout body one byte per clock by selecting byte i of its vector, so
each layout is written once, here, beside the struct it mirrors.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const

__all__ = ["le", "hello_info", "status_head", "serial_bytes"]


def le(*fields):
    """Concatenate (value, bytes) fields into one little-endian byte vector."""
    return Cat(*(Cat(value, Const(0, 8 * size))[: 8 * size] for value, size in fields))


def serial_bytes(text: str) -> Const:
    raw = text.encode("ascii")[:16].ljust(16, b"\x00")
    return Const(int.from_bytes(raw, "little"), 128)


def hello_info(p, boot_id, features: int):
    """HelloInfo, 37 bytes: protocol, firmware major/minor, layers, rows, cols, bits, max_frame, slots,
    boot id, serial, capabilities."""
    major, minor = (int(x) for x in p.firmware.split("."))
    return le(
        (Const(2, 8), 1),
        (Const(major, 8), 1),
        (Const(minor, 8), 1),
        (Const(p.layers, 8), 1),
        (Const(p.rows, 16), 2),
        (Const(p.cols, 16), 2),
        (Const(p.bits, 8), 1),
        (Const(p.frame, 16), 2),
        (Const(p.slots, 16), 2),
        (boot_id, 4),
        (serial_bytes(p.serial), 16),
        (Const(features, 32), 4),
    )


def status_head(r, p):
    """StatusInfo without its slot list, 55 bytes; ``r`` holds the executor's registers."""
    return le(
        (r["boot_id"], 4),
        (r["uptime_ms"], 4),
        (Const(p.temperature_centi & 0xFFFF, 16), 2),
        (r["active_crc"], 4),
        (r["shadow_crc"], 4),
        (r["latch_count"], 4),
        (r["crc_errors"], 4),
        (r["framing_errors"], 4),
        (r["overruns"], 4),
        (r["naks"], 4),
        (r["seq_state"], 1),
        (r["seq_mode"], 1),
        (r["seq_pos"], 2),
        (r["seq_steps"], 4),
        (r["seq_missed"], 4),
        (r["watchdog_ms"], 2),
        (r["safe"], 1),
        (Const(p.slots, 16), 2),
    )
