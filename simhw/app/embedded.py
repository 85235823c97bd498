"""Start the bench daemon for a bench description: the hardware (or the embedded simulated
bench), the store, the bench service and its scheduler, the server in front; serve until SIGTERM/SIGINT
or :meth:`BenchServer.stop`."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading

from drivers.bench import open_devices
from sim_backend.bench import SimBench
from simhw.control.bench_service import BenchService
from simhw.control.scheduler import Scheduler
from simhw.control.server import BenchServer
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig

__all__ = ["run_daemon", "setup_logging", "embedded_daemon"]


class _JsonFormatter(logging.Formatter):
    def format(self, record):
        msg = record.getMessage()
        try:
            body = json.loads(msg)
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {"message": msg}
        out = {"t": round(record.created, 6), "level": record.levelname.lower(), "logger": record.name, **body}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level=logging.INFO, stream=None) -> None:
    """Structured logs: one JSON object per line on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("simhw")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_daemon(config: BenchConfig, curve: tuple | None = None, on_ready=None, install_signals: bool = True) -> int:
    with contextlib.ExitStack() as stack:
        cfg, clock = config, None
        if config.simulated:
            bench = stack.enter_context(SimBench(config))
            cfg, clock = bench.resolved_config(), bench.clock.now
        board, vna = stack.enter_context(open_devices(cfg))
        store = Store(config.daemon.store, config.daemon.durability, config.daemon.store_max_mb)
        stack.callback(store.close)
        service = BenchService(cfg, board, vna, store, clock=clock)
        c = config.calibration
        if c.period_s > 0 or c.check_every_s > 0:
            service.scheduler = Scheduler(service)
        daemon = BenchServer(service, curve=curve)
        if install_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
            signal.signal(signal.SIGINT, lambda *_: daemon.stop())
            if config.simulated:  # a brown-out on request: the soak's resets between push and measure
                signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=bench.reset_boards).start())
        ready = threading.Event()
        if on_ready is not None:
            threading.Thread(target=lambda: (ready.wait(), on_ready()), daemon=True).start()
        daemon.serve(ready)
    return 0


@contextlib.contextmanager
def embedded_daemon(config: BenchConfig):
    """The simulated bench of ``config`` and a daemon serving it from a thread of this process;
    yields (bench, service): the simulated bench and the :class:`BenchService` the daemon serves (its
    board, VNA and store; its ``scheduler`` is None until the caller sets one); stops both when the block ends. For programs and tests that need
    the simulated truth next to the daemon (the HIL check, the demo); ``simhw daemon`` is the real
    thing. The server itself stays inside: callers talk to it through a client like everyone else."""
    with SimBench(config) as bench, open_devices(bench.resolved_config()) as (board, vna):
        store = Store(config.daemon.store, config.daemon.durability, config.daemon.store_max_mb)
        service = BenchService(bench.resolved_config(), board, vna, store, clock=bench.clock.now)
        server = BenchServer(service)
        ready = threading.Event()
        thread = threading.Thread(target=server.serve, args=(ready,), name="simhw-daemon", daemon=True)
        thread.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the embedded daemon did not start")
            yield bench, service
        finally:
            server.stop()
            thread.join(30)
            store.close()
