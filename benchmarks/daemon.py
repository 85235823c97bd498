"""Control-plane latency and throughput, in one run on this machine.

    python -m benchmarks.daemon [--n 2000]

(a) raw pyzmq DEALER/ROUTER echo round trip on loopback tcp (the floor);
(b) acknowledged config push through the daemon, the SMP driver and the simulated board (pty,
    byte time zero): p50/p99 latency of sequential pushes of distinct configs;
(c) pipelined pushes per second from one client (64 in flight).
Targets: push p50 at most 2x the raw round trip; at least 5,000 acknowledged pushes per second.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

from drivers.bench import open_bench
from sim_backend.bench import SimBench
from simhw.bench_config import BenchConfig
from simhw.control.client import DaemonClient
from simhw.control.daemon import BenchDaemon
from simhw.control.store import Store
from simhw.phase_config import PhaseConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_round_trip(n: int) -> np.ndarray:
    ctx = zmq.Context.instance()
    ep = f"tcp://127.0.0.1:{free_port()}"
    router = ctx.socket(zmq.ROUTER)
    router.bind(ep)
    stop = threading.Event()

    def echo():
        while not stop.is_set():
            if router.poll(50):
                router.send_multipart(router.recv_multipart())

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(ep)
    payload = [b"simhw/1", b'{"op":"push","id":"x"}' + b" " * 200]
    out = np.empty(n)
    for i in range(n + 100):
        t0 = time.perf_counter()
        dealer.send_multipart(payload)
        dealer.recv_multipart()
        if i >= 100:
            out[i - 100] = time.perf_counter() - t0
    stop.set()
    t.join()
    dealer.close(0)
    router.close(0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    a = ap.parse_args(argv)
    raw = raw_round_trip(a.n)
    tmp = Path(tempfile.mkdtemp())
    cfg = BenchConfig(name="benchmark")
    cfg.daemon.bind = [f"tcp://127.0.0.1:{free_port()}"]
    cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
    cfg.daemon.store = str(tmp / "store.sqlite")
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(2 * a.n + 1)]
    with SimBench(cfg) as bench, open_bench(bench.resolved_config()) as (board, vna):
        daemon = BenchDaemon(bench.resolved_config(), board, vna, Store(cfg.daemon.store))
        ready = threading.Event()
        th = threading.Thread(target=daemon.serve, args=(ready,), daemon=True)
        th.start()
        ready.wait(10)
        with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
            c.push(configs[-1])
            lat = np.empty(a.n)
            for i in range(a.n):
                t0 = time.perf_counter()
                c.push(configs[i])
                lat[i] = time.perf_counter() - t0
            t0 = time.perf_counter()
            acks = c.push_many(configs[a.n:2 * a.n], window=64)
            rate = len(acks) / (time.perf_counter() - t0)
        daemon.stop()
        th.join(30)
    p = lambda x, q: 1e6 * np.percentile(x, q)  # noqa: E731
    print(f"(a) raw pyzmq round trip      p50 {p(raw, 50):8.1f} us   p99 {p(raw, 99):8.1f} us")
    print(f"(b) acknowledged push          p50 {p(lat, 50):8.1f} us   p99 {p(lat, 99):8.1f} us   "
          f"ratio p50 {np.median(lat) / np.median(raw):.1f}x (target <= 2x)")
    print(f"(c) pipelined pushes           {rate:8.0f} /s (target >= 5000/s, ratio {rate / 5000:.2f})")


if __name__ == "__main__":
    main()
