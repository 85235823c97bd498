"""Control-plane latency and throughput, in one run on this machine.

    python -m benchmarks.daemon [--n 2000]

The client runs here, `simhw daemon` in a second process, and the simulated board (byte time
zero) either inside the daemon's process or in a third.

(a) raw pyzmq DEALER/ROUTER echo round trip on loopback tcp to a second process (the floor);
(b) acknowledged config push through the daemon, the SMP driver and the simulated board:
    p50/p99 latency of sequential pushes of distinct configs;
(c) pipelined pushes per second from one client (256 in flight), each acknowledged after readback.
Targets: push p50 at most 2x the raw round trip; at least 5,000 acknowledged pushes per second.

(b) and (c) run three times: the board embedded in the daemon's process (``simulation.transport =
"inproc"``: ``simhw daemon`` on the simulated bench file, no OS hop to the board), the same with
``daemon.busy_poll_us`` set (the loop polls without sleeping after each request), and the board in
its own process on a pty (``simhw sim up`` beside the daemon). Each run has its own folder and a
fresh store, so every run inserts the same new configurations (none is already stored).

(d) times the stages of one push's work in a tight loop in one process (no sockets, no sleeping):
what a push costs on top of a round trip before any scheduling effects.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from simhw.control.client import DaemonClient
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

BUSY_POLL_US = 500.0  # daemon.busy_poll_us of the third run
PAYLOAD = [b"simhw/1", b'{"op":"push","id":"x"}' + b" " * 200]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo_server(endpoint: str) -> None:
    """The far end of (a): echo every message until SIGTERM."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        if router.poll(50):
            router.send_multipart(router.recv_multipart())
    router.close(0)
    ctx.term()


@contextlib.contextmanager
def process(args: list[str], timeout: float = 60.0):
    """Run ``python args...`` until it prints a line starting with 'ready'; SIGTERM it afterwards."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("ready"):
                break
            if not line and proc.poll() is not None:
                raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}")
        else:
            raise RuntimeError(f"{' '.join(args)} not ready in {timeout} s")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def raw_round_trip(n: int) -> np.ndarray:
    ep = f"tcp://127.0.0.1:{free_port()}"
    with process(["-m", "benchmarks.daemon", "--echo", ep]):
        ctx = zmq.Context.instance()
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(ep)
        out = np.empty(n)
        for i in range(n + 100):
            t0 = time.perf_counter()
            dealer.send_multipart(PAYLOAD)
            dealer.recv_multipart()
            if i >= 100:
                out[i - 100] = time.perf_counter() - t0
        dealer.close(0)
    return out


def pushes(n: int, tmp: Path, transport: str, busy_poll_us: float = 0.0) -> tuple[np.ndarray, float]:
    """(b) and (c) with the simulated board embedded in the daemon (``inproc``) or in its own process,
    in a new folder under ``tmp`` (a fresh store)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"run-{transport}-", dir=tmp))
    cfg = BenchConfig(name="benchmark")
    cfg.simulation.transport = transport
    cfg.daemon.busy_poll_us = busy_poll_us
    cfg.daemon.bind = [f"tcp://127.0.0.1:{free_port()}"]
    cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
    cfg.daemon.store = str(tmp / "store.sqlite")
    (tmp / "bench.toml").write_text(cfg.to_toml())
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(2 * n + 1)]
    with contextlib.ExitStack() as stack:
        bench = tmp / "bench.toml"
        if transport != "inproc":
            stack.enter_context(
                process(
                    ["-m", "simhw", "sim", "up", "--bench", str(bench), "--write-bench", str(tmp / "resolved.toml")]
                )
            )
            bench = tmp / "resolved.toml"
        stack.enter_context(process(["-m", "simhw", "daemon", "--bench", str(bench)]))
        c = stack.enter_context(DaemonClient(cfg.daemon.bind[0], timeout=30))
        c.push(configs[-1])
        return timed_pushes(c, configs, n)


def timed_pushes(c: DaemonClient, configs: list, n: int) -> tuple[np.ndarray, float]:
    """(b) and (c) on one client: latencies of ``n`` sequential pushes of ``configs[:n]``, then the rate of
    pipelined pushes of ``configs[n:2n]`` (256 in flight), their acknowledgements checked in order."""
    lat = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        c.push(configs[i])
        lat[i] = time.perf_counter() - t0
    t0 = time.perf_counter()
    acks = c.push_many(configs[n : 2 * n], window=256)
    rate = len(acks) / (time.perf_counter() - t0)
    if [a["hash"] for a in acks] != [x.hash for x in configs[n : 2 * n]]:
        raise RuntimeError("pipelined acknowledgements out of order or missing")
    return lat, rate


STAGES = ("decode request", "parse config", "board push + readback", "store commit", "encode reply", "telemetry")


def stage_costs(n: int, tmp: Path) -> dict[str, np.ndarray]:
    """(d) the work of one push, stage by stage, in a tight loop in this process (no sockets, no
    sleeping): the daemon's decoding, the driver and the embedded simulated board, the store's
    commit, the reply and the telemetry message. Each sample is one push of a distinct config."""
    import json

    from drivers.bench import open_devices
    from sim_backend.bench import SimBench
    from simhw.control import schema
    from simhw.control.store import Store

    cfg = BenchConfig(name="benchmark")
    cfg.simulation.transport = "inproc"
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(n)]
    requests = [schema.request("push", f"c-{i}", config=c.to_bytes().decode()) for i, c in enumerate(configs)]
    out = np.empty((len(STAGES), n))
    store = Store(tmp / "stages.sqlite")
    with SimBench(cfg) as bench, open_devices(bench.resolved_config()) as (board, _):
        for i in range(n):
            t = [time.perf_counter()]
            msg = schema.decode(requests[i])
            t.append(time.perf_counter())
            c = PhaseConfig.from_bytes(msg.header["config"].encode())
            t.append(time.perf_counter())
            if board.push_many([c]).error is not None:
                raise RuntimeError("push failed")
            t.append(time.perf_counter())
            pid = store.record_pushes([(c, None, msg.id, True, msg.header["config"])])[0]
            t.append(time.perf_counter())
            schema.reply(msg.id, hash=c.hash, applied=True, push=pid)
            t.append(time.perf_counter())
            json.dumps({"t": time.time(), "pushes": [{"hash": c.hash, "applied": True, "push": pid}]}).encode()
            t.append(time.perf_counter())
            out[:, i] = np.diff(t)
    store.close()
    return dict(zip(STAGES, out[:, n // 10 :]))  # the first tenth warms up


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--echo", metavar="ENDPOINT", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.echo:
        return echo_server(a.echo)
    raw = raw_round_trip(a.n)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for transport, busy in (("inproc", 0.0), ("inproc", BUSY_POLL_US), ("pty", 0.0)):
            runs[transport, busy] = pushes(a.n, Path(tmp), transport, busy)
        stages = stage_costs(a.n, Path(tmp))
    p = lambda x, q: 1e6 * np.percentile(x, q)  # noqa: E731
    print(
        f"compared: {a.n} sequential and {a.n} pipelined pushes of distinct new configurations per run, each "
        "run with a fresh store, against a raw pyzmq round trip on the same loopback"
    )
    print(f"(a) raw pyzmq round trip                          p50 {p(raw, 50):7.1f} us   p99 {p(raw, 99):7.1f} us")
    for (transport, busy), (lat, rate) in runs.items():
        where = ("board in the daemon" if transport == "inproc" else "board process, pty") + (
            f", busy-poll {busy:g} us" if busy else ""
        )
        print(
            f"(b) push, {where:40s} p50 {p(lat, 50):7.1f} us   p99 {p(lat, 99):7.1f} us   "
            f"ratio p50 {np.median(lat) / np.median(raw):.2f}x (target <= 2x)"
        )
        print(f"(c) pipelined, {where:40s} {rate:6.0f} /s (target >= 5000/s, ratio {rate / 5000:.2f})")
    total = sum(stages.values())
    print(
        "(d) one push's work in a tight loop, no sockets: "
        + ", ".join(f"{k} {p(v, 50):.0f}" for k, v in stages.items())
        + " us"
    )
    print(
        f"    total p50 {p(total, 50):.0f} us = {np.median(total) / np.median(raw):.2f}x the raw round trip "
        "(a push's latency is the round trip plus this work)"
    )


if __name__ == "__main__":
    main()
