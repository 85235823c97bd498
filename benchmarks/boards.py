"""Board link benchmarks on the simulated bench (UART byte time modelled at the given baud rate).

    python -m benchmarks.boards [--baud 921600] [--slots 64] [--steps 5000]

(a) Link utilization for bulk writes of a 4-layer 8x8 2-bit board: bytes the host put on the wire,
    times 10 bit times, over the elapsed time (1.0 = the line never idles). Reported for a bulk
    slot upload (pipelined) and for verified single pushes (write, commit, readback).
(b) Slot switches on one layer. Only the host row measures a rate the board link achieves:
    - sequencer, timer 2 kHz: the simulated timer steps by elapsed time and catches up on every
      tick, so it cannot miss and its rate is the requested 2 kHz: the row checks the mechanism
      (steps = elapsed time x rate), not a rate;
    - sequencer, trigger pulses: pulses at 2 kHz paced by this benchmark and delivered to the
      firmware in this process (no link, no VNA): its rate is the benchmark's pacing; the row checks
      that every pulse further apart than the firmware's latch time steps once;
    - host SEQ_STEP, pipelined: steps sent over the modelled UART as fast as the window allows,
      with missed and misplaced steps counted: a measured, link-limited rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from drivers.board import SequenceMode
from drivers.smp_board import SMPBoard
from sim_backend.serial_endpoint import SerialEndpoint
from sim_backend.smp_firmware import SMPFirmware
from simhw.values.phase_config import PhaseConfig


def utilization(baud: int, n_slots: int) -> None:
    fw = SMPFirmware(4, 8, 8, 2, slots=max(64, n_slots), seed=1)
    with SerialEndpoint(fw, "pty", baudrate=baud) as ep:
        board = SMPBoard(ep.url, baudrate=baud, window=16)
        configs = {i: PhaseConfig.random(4, 8, 8, 2, seed=i) for i in range(n_slots)}
        board.upload_slots({0: configs[0]})  # warm-up
        t0 = time.perf_counter()
        sent = board.upload_slots(configs, skip_present=False)  # time the burst alone, no STATUS round trip
        dt = time.perf_counter() - t0
        ok = all(np.array_equal(fw.slots[i], configs[i].codes.reshape(4, -1)) for i in configs)
        bulk = sent * 10 / baud / dt
        n_push = 50
        before = board.link.bytes_out
        t0 = time.perf_counter()
        for i in range(n_push):
            board.push(configs[i % n_slots])
        dt_push = time.perf_counter() - t0
        push_util = (board.link.bytes_out - before) * 10 / baud / dt_push
        board.close()
    print(
        f"(a) bulk upload of {n_slots} configs (4x8x8, 2 bit) at {baud} baud: {sent} bytes in {dt * 1e3:.1f} ms, "
        f"link utilization {bulk:.3f} (target >= 0.9), stored correctly: {ok}"
    )
    print(
        f"    verified single pushes: {n_push / dt_push:.0f} pushes/s, host->board utilization {push_util:.3f} "
        "(stop-and-wait between write, commit and readback)"
    )


def slot_switches(baud: int, n_steps: int) -> None:
    fw = SMPFirmware(1, 8, 8, 2, slots=16, seed=2)
    with SerialEndpoint(fw, "pty", baudrate=baud) as ep:
        board = SMPBoard(ep.url, baudrate=baud, window=16)
        board.upload_slots({i: PhaseConfig.random(1, 8, 8, 2, seed=i) for i in range(16)})
        board.define_sequence(list(range(16)))
        rows = []

        # sequencer, timer mode
        rate = 2000.0
        board.arm_sequence(SequenceMode.TIMER, loop=True, period_s=1 / rate)
        t0 = time.perf_counter()
        board.start_sequence()
        time.sleep(n_steps / rate)
        board.stop_sequence()
        dt = time.perf_counter() - t0
        st = board.status()
        rows.append(("sequencer, timer 2 kHz (*)", st.seq_steps, dt, st.seq_missed, int(dt * rate)))

        # sequencer, external trigger pulses (as a VNA's trigger output would send them)
        board.arm_sequence(SequenceMode.TRIGGER, loop=True)
        board.start_sequence()
        pulses = 0
        period = 1 / 2000.0
        t0 = time.perf_counter()
        nxt = t0
        while pulses < n_steps:
            nxt += period
            while time.perf_counter() < nxt:
                pass
            fw.trigger()
            pulses += 1
        dt = time.perf_counter() - t0
        board.stop_sequence()
        st = board.status()
        rows.append(("sequencer, trigger pulses (*)", st.seq_steps, dt, st.seq_missed, pulses))

        # host commands, pipelined
        board.arm_sequence(SequenceMode.HOST, loop=True)
        board.start_sequence()
        t0 = time.perf_counter()
        positions = board.step_sequence_many(n_steps)
        dt = time.perf_counter() - t0
        st = board.status()
        board.stop_sequence()
        expected = [(i + 1) % 16 for i in range(n_steps)]
        missed = sum(p != e for p, e in zip(positions, expected)) + (n_steps - st.seq_steps)
        rows.append(("host SEQ_STEP, pipelined", st.seq_steps, dt, missed, n_steps))
        board.close()
    print(f"(b) slot switches on one layer (8x8, 2 bit) at {baud} baud:")
    print(f"    {'path':<31}{'steps':>8}{'seconds':>9}{'switches/s':>12}{'missed':>8}{'asked':>8}")
    for name, steps, dt, missed, asked in rows:
        print(f"    {name:<31}{steps:>8}{dt:>9.2f}{steps / dt:>12.0f}{missed:>8}{asked:>8}")
    print(
        "    (*) paced by the simulation or by this benchmark: the rate is the pacing; the row checks the count.\n"
        "    The host row is the measured one (target: >= 1000 switches/s sustained with 0 missed)."
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--slots", type=int, default=64)
    p.add_argument("--steps", type=int, default=5000)
    a = p.parse_args(argv)
    utilization(a.baud, a.slots)
    slot_switches(a.baud, a.steps)


if __name__ == "__main__":
    main()
