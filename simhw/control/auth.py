"""CURVE encryption and the ZAP allow-list of client keys for the daemon's sockets.

A daemon bound beyond loopback must have CURVE: a server key pair and a directory of allowed
client public keys (``simhw keys``); refused clients are logged as structured warnings.
"""

from __future__ import annotations

import json
import logging

import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

__all__ = ["is_loopback", "secure", "start_authenticator"]

log = logging.getLogger("simhw.daemon")


def is_loopback(endpoint: str) -> bool:
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


def secure(sock, curve: tuple | None) -> None:
    """Make ``sock`` a CURVE server with the key pair in ``curve[0]`` (no-op without CURVE)."""
    if curve is None:
        return
    public, secret = zmq.auth.load_certificate(curve[0])
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True


def start_authenticator(ctx, curve: tuple | None) -> ThreadAuthenticator | None:
    """The ZAP handler allowing the client keys in the directory ``curve[1]``; None without CURVE."""
    if curve is None:
        return None
    auth = ThreadAuthenticator(ctx, log=_AuthLog())
    auth.start()
    auth.configure_curve(domain="*", location=curve[1])
    return auth


class _AuthLog:
    """Logger for the ZAP handler: refused clients become structured warnings."""

    def debug(self, msg, *args):
        text = msg % args if args else msg
        if "DENIED" in text or "Invalid" in text:
            log.warning(json.dumps({"event": "auth_denied", "detail": text}))

    def info(self, msg, *args):
        self.debug(msg, *args)

    def warning(self, msg, *args):
        log.warning(json.dumps({"event": "auth_warning", "detail": msg % args if args else msg}))

    def error(self, msg, *args):
        log.error(json.dumps({"event": "auth_error", "detail": msg % args if args else msg}))

    exception = error
