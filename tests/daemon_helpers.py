"""Daemons for tests: bench files on loopback tcp and ipc, a real ``simhw daemon`` process on the simulated
bench, an embedded daemon with its scheduler on the bench's clock, and CURVE keys with an allow-list."""

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import zmq.auth

from drivers.bench import open_devices
from sim_backend.bench import SimBench
from simhw.control.bench_service import BenchService
from simhw.control.scheduler import Scheduler
from simhw.control.server import BenchServer
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig


def _worker_ports():
    """Ports below the kernel's ephemeral range (32768 and up), a block of 2000 per pytest-xdist worker:
    a port handed out here is not taken meanwhile by an outgoing connection or by another worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = 20000 + 2000 * (index % 6) + (os.getpid() % 10) * 200
    return itertools.cycle(range(start, start + 200))


_PORTS = _worker_ports()


def free_port() -> int:
    """A loopback tcp port that is free now and that no other test of this session is handed."""
    for _ in range(200):
        port = next(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's block")


def ipc_bench(tmp_path, name: str, quiet: bool = False) -> BenchConfig:
    """The embedded simulated bench with the daemon on ipc endpoints and its store in ``tmp_path``; ``quiet``:
    a 3-point sweep without simulated noise (two measurements of one configuration are then equal)."""
    cfg = BenchConfig(name=name)
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    if quiet:
        cfg.sweep.points = 3
        cfg.simulation.noise = False
    return cfg


def small_bench(tmp_path, name: str, quiet: bool = False) -> BenchConfig:
    """:func:`ipc_bench` with a 3-point sweep and a quick physical calibration (1 stage of 20 slots)."""
    cfg = ipc_bench(tmp_path, name, quiet)
    cfg.sweep.points = 3
    cfg.calibration.parameterization = "physical"
    cfg.calibration.stages, cfg.calibration.slots, cfg.calibration.heldout = 1, 20, 5
    return cfg


def bench_file(tmp_path, **calibration) -> tuple:
    cfg = BenchConfig(name="daemon-test")
    cfg.sweep.points = 3
    cfg.simulation.error_scale = 5.0
    tcp = f"tcp://127.0.0.1:{free_port()}"
    ipc = f"ipc://{tmp_path}/simhw.ipc"
    cfg.daemon.bind = [tcp, ipc]
    cfg.daemon.publish = f"tcp://127.0.0.1:{free_port()}"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    cfg.daemon.heartbeat_s = 0.2
    cfg.calibration.parameterization = "physical"
    cfg.calibration.stages, cfg.calibration.slots, cfg.calibration.heldout = 1, 30, 10
    for k, v in calibration.items():
        section, key = k.split("__") if "__" in k else ("calibration", k)
        setattr(getattr(cfg, section), key, v)
    path = tmp_path / "bench.toml"
    path.write_text(cfg.to_toml())
    return path, cfg


@contextlib.contextmanager
def daemon_process(path, timeout: float = 30.0, log=None):
    """Run ``simhw daemon --bench path`` until the block ends; SIGTERM it and check it exits cleanly."""
    err = open(log, "a+b") if log else tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simhw", "daemon", "--bench", str(path)], stdout=subprocess.PIPE, stderr=err, text=True
    )
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and not line.startswith("ready"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                err.flush()
                err.seek(0)
                said = err.read()[-2000:].decode(errors="replace")
                raise RuntimeError(f"daemon exited with {proc.returncode} before it was ready; it said:\n{said}")
        if not line.startswith("ready"):
            raise RuntimeError("daemon not ready in time")
        yield proc
    finally:
        stop_process(proc)
        err.close()


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM ``proc`` (SIGKILL after ``timeout``), wait for it and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def keys(tmp_path):
    """The daemon's key pair and an allow-list with two clients (their public keys)."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    _, server_secret = zmq.auth.create_certificates(str(tmp_path), "server")
    for name in ("viewer", "operator"):
        public, _ = zmq.auth.create_certificates(str(tmp_path), name)
        shutil.move(public, allowed / f"{name}.key")
    return server_secret, str(allowed)


class Running:
    """The daemon (``server``) serving in a thread, its bench service (``service``) with a scheduler on the
    simulated bench's clock (``scheduled=False``: none), for tests of the server itself."""

    def __init__(self, cfg, scheduled: bool = True):
        self.cfg, self.scheduled = cfg, scheduled

    def __enter__(self):
        self.sim = SimBench(self.cfg).__enter__()
        self.hw = open_devices(self.sim.resolved_config())
        board, vna = self.hw.__enter__()
        self.store = Store(self.cfg.daemon.store)
        self.service = BenchService(self.sim.resolved_config(), board, vna, self.store, clock=self.sim.clock.now)
        if self.scheduled:
            self.service.scheduler = Scheduler(self.service)
        self.server = BenchServer(self.service)
        ready = threading.Event()
        self.thread = threading.Thread(target=self.server.serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)
        return self

    def settle(self, timeout=90.0):
        """Wait until the scheduler has run what is due at the current bench time."""
        sched, end = self.service.scheduler, time.monotonic() + timeout
        while time.monotonic() < end:
            now = self.sim.clock.now()
            periodic_done = not sched.period or (
                sched.last_periodic is not None and now - sched.last_periodic < sched.period
            )
            if not sched.busy and periodic_done and sched.last_check is not None and sched.last_check >= now:
                return
            time.sleep(0.02)
        raise AssertionError("the scheduler did not catch up")

    def __exit__(self, *exc):
        self.server.stop()
        self.thread.join(30)
        self.store.close()
        self.hw.__exit__(*exc)
        self.sim.__exit__(*exc)
