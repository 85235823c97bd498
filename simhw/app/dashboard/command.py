"""``simhw dashboard``: the live bench dashboard as its own process, its CURVE key and its bearer tokens.

    simhw dashboard --endpoint tcp://127.0.0.1:5555 --publish tcp://127.0.0.1:5556 --http 127.0.0.1:8080
    simhw dashboard --bench bench.toml                      # the daemon's endpoints and keys from the file
    simhw dashboard keys --bench bench.toml                 # the gateway's own key pair, allow-listed
    simhw dashboard token --bench bench.toml --client alice [--control]

``simhw daemon --http 127.0.0.1:8080`` starts the same gateway beside the daemon.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from pathlib import Path

import zmq.auth

from simhw.app.dashboard.gateway import Gateway
from simhw.app.dashboard.tokens import issue_token
from simhw.values.bench_config import BenchConfig

__all__ = ["add_arguments", "run_from_args", "gateway_for", "parse_http", "gateway_keys", "create_gateway_keys"]

GATEWAY_KEY = "dashboard"  # the gateway's key pair: dashboard.key_secret beside the daemon's, dashboard.key allowed


def parse_http(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--http takes HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def gateway_keys(cfg: BenchConfig) -> tuple[Path, Path]:
    """(the gateway's secret key file, its public key in the daemon's allow-list) for a CURVE bench file."""
    return Path(cfg.daemon.server_key).with_name(f"{GATEWAY_KEY}.key_secret"), Path(
        cfg.daemon.keys
    ) / f"{GATEWAY_KEY}.key"


def create_gateway_keys(cfg: BenchConfig) -> tuple[Path, Path]:
    """Create the gateway's key pair beside the daemon's secret key and put its public key on the allow-list."""
    if not (cfg.daemon.server_key and cfg.daemon.keys):
        raise ValueError(
            "the dashboard's key is for a CURVE daemon: the bench file needs daemon.server_key and "
            "daemon.keys (create them with 'simhw keys')"
        )
    secret, allowed = gateway_keys(cfg)
    public, made = zmq.auth.create_certificates(str(secret.parent), GATEWAY_KEY)
    os.chmod(made, 0o600)
    Path(allowed).parent.mkdir(parents=True, exist_ok=True)
    if Path(public).resolve() != allowed.resolve():
        shutil.copyfile(public, allowed)
    return secret, allowed


def gateway_for(cfg: BenchConfig, http: str, require_token: bool = False) -> Gateway:
    """The gateway of the daemon a bench file describes: with CURVE keys, the gateway's own client key
    (:func:`create_gateway_keys`) for the daemon, and tokens signed with the daemon's key."""
    host, port = parse_http(http)
    request = next((e for e in cfg.daemon.bind if e.startswith(("tcp://", "ipc://"))), cfg.daemon.bind[0])
    curve = None
    if cfg.daemon.server_key and cfg.daemon.keys:
        secret, allowed = gateway_keys(cfg)
        if not (secret.is_file() and allowed.is_file()):
            raise ValueError(
                f"the daemon uses CURVE but the dashboard has no key of its own ({secret} and {allowed}): "
                f"create it with 'simhw dashboard keys --bench {cfg.path or 'bench.toml'}'"
            )
        curve = (cfg.daemon.server_key, str(secret))
    return Gateway(
        request,
        cfg.daemon.publish,
        host,
        port,
        curve=curve,
        server_key=cfg.daemon.server_key or None,
        keys_dir=cfg.daemon.keys or None,
        require_token=require_token,
    )


def add_arguments(p) -> None:
    p.add_argument(
        "action",
        nargs="?",
        default="serve",
        choices=("serve", "token", "keys"),
        metavar="action",
        help="serve (default); token: issue a bearer token; keys: create the dashboard's CURVE key and allow-list it",
    )
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
    if a.action == "keys":
        secret, allowed = create_gateway_keys(cfg)
        print(f"dashboard secret key: {secret}\nallowed as: {allowed}")
        return 0
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
