"""The gateware's latency on one push, in simulated clock cycles against the UART's byte time.

    python -m benchmarks.gateware [--clock 50e6] [--baud 921600] [--pushes 2]

The design (default 4 x 6 x 6 atoms of 2 bits, 50 MHz, 921600 baud: 54 cycles per bit, 540 per
byte) runs in Amaranth's simulator at the bit level: the host's bytes are driven onto ``uart_rx`` and
the replies decoded from ``uart_tx``. A push is what the driver sends (WRITE, COMMIT with the
pattern CRC, READ of the active bank), all three frames back to back.

Printed per push: its time from the first request bit to the last reply bit, and the least time the
bytes on the wire allow: a reply cannot start before its request has arrived and replies follow one
another on the line, so the bound is max over k of (request bytes up to frame k + reply bytes from k
on). What the gateware adds is the difference, in byte times (target: at most 2). Also per frame:
the cycles from its request's last stop bit to its reply's first start bit (including any wait for
the line while an earlier reply is still going out).
"""

from __future__ import annotations

import argparse

from drivers import smp
from drivers.smp import MsgType, SMPMessage
from drivers.smp_messages import Commit, Read, Write
from sim_backend.gateware.cosim import GatewareFirmware
from sim_backend.gateware.params import GatewareParams
from simhw.values.phase_config import PhaseConfig


def push_frames(p: GatewareParams, cfg: PhaseConfig, seq: int) -> list[bytes]:
    codes = cfg.codes.reshape(-1)
    n = codes.size
    return [
        smp.encode_frame(SMPMessage(MsgType.WRITE, seq, Write(0, 0, n, smp.pack_codes(codes, p.bits)).pack())),
        smp.encode_frame(SMPMessage(MsgType.COMMIT, seq + 1, Commit(smp.pattern_crc(cfg.codes, p.bits)).pack())),
        smp.encode_frame(SMPMessage(MsgType.READ, seq + 2, Read(1, 0, 0, n).pack())),
    ]


def split_frames(log):
    """[(first byte's cycle, last byte's cycle, bytes)] of the frames in a byte log of one direction."""
    frames, start, count = [], None, 0
    for cycle, _, byte in log:
        start = cycle if start is None else start
        count += 1
        if byte == 0:
            frames.append((start, cycle, count))
            start, count = None, 0
    return frames


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clock", type=float, default=50e6)
    ap.add_argument("--baud", type=int, default=921600)
    ap.add_argument("--pushes", type=int, default=2)
    a = ap.parse_args(argv)
    p = GatewareParams(clock_hz=a.clock, baud=a.baud)
    fw = GatewareFirmware(p, uart="bits", max_cycles=50_000_000)
    fw.poll()  # the power-up's EVENT BOOT
    byte = 10 * p.divisor
    print(
        f"{p.layers} x {p.rows} x {p.cols} atoms of {p.bits} bits; {p.clock_hz:g} Hz, {p.divisor} cycles per bit, "
        f"a byte time is {byte} cycles"
    )
    worst = 0.0
    for k in range(a.pushes):
        cfg = PhaseConfig.random(p.layers, p.rows, p.cols, p.bits, seed=k)
        frames = push_frames(p, cfg, 10 + 3 * k)
        fw.byte_log.clear()
        reply = fw.receive(b"".join(frames))
        got = [m for m in smp.FrameDecoder(1024).feed(reply) if isinstance(m, SMPMessage)]
        assert [m.type for m in got] == [MsgType.ACK] * 3, got
        assert smp.unpack_codes(got[2].body, cfg.codes.size, p.bits).tolist() == cfg.codes.reshape(-1).tolist()
        assert fw.active_codes().tolist() == cfg.codes.tolist()
        rx = split_frames([e for e in fw.byte_log if e[1] == "rx"])
        tx = split_frames([e for e in fw.byte_log if e[1] == "tx"])
        first_bit = rx[0][0] - byte  # rx stamps mark the end of each byte's stop bit
        last_bit = tx[-1][1] + p.divisor // 2  # tx stamps are taken mid stop bit
        total = (last_bit - first_bit) / byte
        req, rep = [f[2] for f in rx], [f[2] for f in tx]
        wire = max(sum(req[: j + 1]) + sum(rep[j:]) for j in range(len(req)))
        added = total - wire
        worst = max(worst, added)
        turn = [tx_f[0] - (p.divisor * 9 + p.divisor // 2) - rx_f[1] for rx_f, tx_f in zip(rx, tx)]
        print(
            f"push {k + 1}: request frames {req} bytes, replies {rep} bytes; {total:.2f} byte times on the line, "
            f"the wire's bound {wire}; the gateware adds {added:.2f} byte times "
            f"(cycles from each request's last bit to its reply's first, line waits included: {turn})"
        )
    print(
        f"worst over {a.pushes} pushes: the gateware adds {worst:.2f} byte times beyond the bytes on the wire "
        f"(target: at most 2)"
    )


if __name__ == "__main__":
    main()
