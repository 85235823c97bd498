"""Start a real ``simhw daemon`` process on the simulated bench, on loopback tcp and ipc."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from simhw.values.bench_config import BenchConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ipc_bench(tmp_path, name: str) -> BenchConfig:
    """The embedded simulated bench with the daemon on ipc endpoints and its store in ``tmp_path``."""
    cfg = BenchConfig(name=name)
    cfg.daemon.bind = [f"ipc://{tmp_path}/d.ipc"]
    cfg.daemon.publish = f"ipc://{tmp_path}/p.ipc"
    cfg.daemon.store = str(tmp_path / "store.sqlite")
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
    err = open(log or os.devnull, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "simhw", "daemon", "--bench", str(path)], stdout=subprocess.PIPE,
                            stderr=err, text=True)
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and not line.startswith("ready"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {proc.returncode} before it was ready")
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
