"""``simhw dashboard``: the live bench dashboard as its own process, and its bearer tokens.

    simhw dashboard --endpoint tcp://127.0.0.1:5555 --publish tcp://127.0.0.1:5556 --http 127.0.0.1:8080
    simhw dashboard --bench bench.toml                      # the daemon's endpoints and keys from the file
    simhw dashboard token --bench bench.toml --client alice [--control]

``simhw daemon --http 127.0.0.1:8080`` starts the same gateway beside the daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from simhw.app.dashboard.gateway import Gateway
from simhw.app.dashboard.tokens import issue_token
from simhw.values.bench_config import BenchConfig

__all__ = ["add_arguments", "run_from_args", "gateway_for", "parse_http"]


def parse_http(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--http takes HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def gateway_for(cfg: BenchConfig, http: str, require_token: bool = False) -> Gateway:
    """The gateway of the daemon a bench file describes, tokens from its CURVE keys when it has them."""
    host, port = parse_http(http)
    request = next((e for e in cfg.daemon.bind if e.startswith(("tcp://", "ipc://"))), cfg.daemon.bind[0])
    return Gateway(request, cfg.daemon.publish, host, port, server_key=cfg.daemon.server_key or None,
                   keys_dir=cfg.daemon.keys or None, require_token=require_token)


def add_arguments(p) -> None:
    p.add_argument("action", nargs="?", default="serve", choices=("serve", "token"), metavar="action",
                   help="serve (default) or token: issue a bearer token")
    p.add_argument("--bench", help="the bench file: the daemon's endpoints, server key and client allow-list")
    p.add_argument("--endpoint", help="the daemon's request endpoint (instead of --bench)")
    p.add_argument("--publish", help="the daemon's telemetry endpoint (instead of --bench)")
    p.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT to serve on (default loopback)")
    p.add_argument("--require-token", action="store_true", help="ask for a token from loopback too")
    p.add_argument("--client", help="token: the client's name (its .key file in the allow-list)")
    p.add_argument("--control", action="store_true", help="token: allow pushing, measuring and calibrating")


def run_from_args(a) -> int:
    cfg = BenchConfig.load(a.bench) if a.bench else BenchConfig(name="dashboard")
    if a.endpoint:
        cfg.daemon.bind = [a.endpoint]
    if a.publish:
        cfg.daemon.publish = a.publish
    if a.action == "token":
        if not (cfg.daemon.server_key and cfg.daemon.keys and a.client):
            raise ValueError("a token needs --bench with daemon.server_key and daemon.keys, and --client")
        print(issue_token(cfg.daemon.server_key, cfg.daemon.keys, a.client, "control" if a.control else "read"))
        return 0
    with contextlib.suppress(OSError):
        os.nice(5)  # a dashboard beside the daemon yields to it
    gw = gateway_for(cfg, a.http, a.require_token).start()
    print(f"ready dashboard {gw.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gw.stop()
    return 0
