"""Configurations measured per second on the simulated bench: software loop vs triggered list,
the same measurement in both (one CW point at 28 GHz per configuration, at the same IFBW).

    python -m benchmarks.bench [--configs 201] [--ifbw 10e3] [--baud 921600]

(a) software loop: for each configuration push (write, commit, readback), then a one-point sweep
    at 28 GHz, read;
(b) triggered list: upload the configurations to board slots, then one CW sweep at 28 GHz of one
    point per configuration whose per-point trigger steps the board sequencer (a second run: slots
    already on the board are not re-sent).
So the ratio is what the list mechanism saves (a round trip to the board and a sweep start per
configuration), not a difference in sweep length. The board link runs at the given baud rate with
UART byte time modelled; the VNA's sweep time is points * (1/IFBW + 10 us) + 1 ms.
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

F_CW = 28e9  # the one frequency both loops measure


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=201)
    p.add_argument("--ifbw", type=float, default=10e3)
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--loop-configs", type=int, default=20)
    a = p.parse_args(argv)
    cfg = BenchConfig()
    with SimBench(cfg) as bench:
        # serve the board again with the UART byte time modelled
        for ep in bench.endpoints:
            ep.stop()
        bench.endpoints = [SerialEndpoint(fw, "pty", baudrate=a.baud).start() for fw in bench.firmwares]
        g = cfg.geometry
        configs = [PhaseConfig.random(g.layers, g.rows, g.cols, g.bits, seed=i) for i in range(a.configs)]
        with (
            SMPBoard(bench.board_urls[0], baudrate=a.baud, window=16) as board,
            open_vna("keysight", bench.vna_resource) as vna,
        ):
            vna.configure(F_CW, F_CW, 1, ifbw=a.ifbw, params=("S21",))  # one CW point, as in the list
            loop = []
            t0 = time.perf_counter()
            for c in configs[: a.loop_configs]:
                board.push(c)
                loop.append(vna.measure()["S21"][0])
            loop_rate = a.loop_configs / (time.perf_counter() - t0)

            t0 = time.perf_counter()
            _, resp = triggered_list_measurement(board, vna, configs, F_CW, ifbw=a.ifbw)
            list_rate = len(configs) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            triggered_list_measurement(board, vna, configs, F_CW, ifbw=a.ifbw)  # slots already stored
            list_rate_cached = len(configs) / (time.perf_counter() - t0)
            truth = bench.truth.response(np.stack([c.codes for c in configs]), g.bits, [F_CW])[:, 0, 0]
            rel = np.max(np.abs(resp - truth)) / np.max(np.abs(truth))
            rel_loop = np.max(np.abs(np.array(loop) - truth[: a.loop_configs])) / np.max(np.abs(truth))
    print(
        f"compared: one CW point at {F_CW / 1e9:g} GHz, IFBW {a.ifbw:g} Hz, per configuration in both; board "
        f"{g.layers}x{g.rows}x{g.cols} {g.bits}-bit at {a.baud} baud; {a.loop_configs} configurations in (a), "
        f"{a.configs} in (b)"
    )
    print(f"(a) software loop (push, 1-point sweep, read): {loop_rate:8.1f} configs/s")
    print(
        f"(b) triggered list, upload + one sweep:        {list_rate:8.1f} configs/s   ratio (b)/(a) = "
        f"{list_rate / loop_rate:.1f}"
    )
    print(
        f"    triggered list, slots already on board:    {list_rate_cached:8.1f} configs/s   ratio = "
        f"{list_rate_cached / loop_rate:.1f}"
    )
    print(f"    responses vs truth (noise on): max relative deviation {rel_loop:.2e} (a), {rel:.2e} (b)")


if __name__ == "__main__":
    main()
