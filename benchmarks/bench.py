"""Configurations measured per second on the simulated bench: software loop vs triggered list.

    python -m benchmarks.bench [--configs 201] [--ifbw 10e3] [--baud 921600]

(a) software loop: for each configuration push (write, commit, readback), sweep 201 points, read;
(b) triggered list: upload the configurations to board slots, then one 201-point CW sweep whose
    per-point trigger steps the board sequencer (slots already on the board are not re-sent).
The board link runs at the given baud rate with UART byte time modelled; the VNA's sweep time is
points * (1/IFBW + 10 us) + 1 ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from drivers.list_measurement import triggered_list_measurement
from drivers.smp_board import SMPBoard
from drivers.vna import open_vna
from sim_backend.bench import SimBench
from sim_backend.serial_endpoint import SerialEndpoint
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=201)
    p.add_argument("--points", type=int, default=201)
    p.add_argument("--ifbw", type=float, default=10e3)
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--loop-configs", type=int, default=20)
    a = p.parse_args(argv)
    cfg = BenchConfig()
    cfg.sweep.points = a.points
    with SimBench(cfg) as bench:
        # serve the board again with the UART byte time modelled
        for ep in bench.endpoints:
            ep.stop()
        bench.endpoints = [SerialEndpoint(fw, "pty", baudrate=a.baud).start() for fw in bench.firmwares]
        g = cfg.geometry
        configs = [PhaseConfig.random(g.layers, g.rows, g.cols, g.bits, seed=i) for i in range(a.configs)]
        with SMPBoard(bench.board_urls[0], baudrate=a.baud, window=16) as board, \
                open_vna("keysight", bench.vna_resource) as vna:
            vna.configure(27.5e9, 28.5e9, a.points, ifbw=a.ifbw, params=("S21",))
            t0 = time.perf_counter()
            for c in configs[:a.loop_configs]:
                board.push(c)
                vna.measure()
            loop_rate = a.loop_configs / (time.perf_counter() - t0)

            t0 = time.perf_counter()
            _, resp = triggered_list_measurement(board, vna, configs, 28e9)
            list_rate = len(configs) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, resp2 = triggered_list_measurement(board, vna, configs, 28e9)  # slots already stored
            list_rate_cached = len(configs) / (time.perf_counter() - t0)
            truth = bench.truth.response(np.stack([c.codes for c in configs]), g.bits, [28e9])[:, 0, 0]
            rel = np.max(np.abs(resp - truth)) / np.max(np.abs(truth))
    print(f"board {g.layers}x{g.rows}x{g.cols} {g.bits}-bit at {a.baud} baud; VNA {a.points} points, IFBW {a.ifbw:g} Hz")
    print(f"(a) software loop (push, sweep, read):       {loop_rate:8.1f} configs/s")
    print(f"(b) triggered list, upload + one sweep:      {list_rate:8.1f} configs/s   ratio (b)/(a) = "
          f"{list_rate / loop_rate:.1f}  (target >= 10)")
    print(f"    triggered list, slots already on board:  {list_rate_cached:8.1f} configs/s   ratio = "
          f"{list_rate_cached / loop_rate:.1f}")
    print(f"    list responses vs truth (noise on): max relative deviation {rel:.2e}")


if __name__ == "__main__":
    main()
