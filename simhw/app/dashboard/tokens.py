"""Bearer tokens for the dashboard, issued per client from the daemon's CURVE allow-list.

A token is ``simhw1.<client>.<role>.<mac>``: ``client`` names a public key file ``<client>.key`` in
the allow-list directory (``daemon.keys``), ``role`` is ``read`` or ``control``, and ``mac`` is
HMAC-SHA256 over "client:role:public key", keyed with the daemon's secret key. So only the holder of
the daemon's key issues tokens, a token works only while its client is on the allow-list (removing
the key file revokes it), and a read token cannot be turned into a control one.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import zmq.auth

__all__ = ["ROLES", "issue_token", "TokenChecker"]

ROLES = ("read", "control")


def _public_key(keys_dir: str | Path, client: str) -> bytes:
    path = Path(keys_dir) / f"{client}.key"
    if not path.is_file():
        raise ValueError(
            f"client {client!r} is not on the allow-list: no {path.name} in {keys_dir}; create its key "
            f"pair with 'simhw keys {client}' and copy {client}.key into {keys_dir}"
        )
    public, _ = zmq.auth.load_certificate(str(path))
    return public


def _mac(server_secret_file: str | Path, client: str, role: str, public: bytes) -> str:
    _, secret = zmq.auth.load_certificate(str(server_secret_file))
    if secret is None:
        raise ValueError(f"{server_secret_file} holds no secret key: give the daemon's .key_secret file")
    return hmac.new(secret, f"{client}:{role}:".encode() + public, hashlib.sha256).hexdigest()


def issue_token(server_secret_file: str | Path, keys_dir: str | Path, client: str, role: str = "read") -> str:
    """A token for ``client`` (its public key in ``keys_dir``) with ``role``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not client.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"client names are letters, digits, '-' and '_': {client!r}")
    return f"simhw1.{client}.{role}.{_mac(server_secret_file, client, role, _public_key(keys_dir, client))}"


class TokenChecker:
    """Checks tokens against the allow-list as it is now (re-read on every check: revocation is immediate)."""

    def __init__(self, server_secret_file: str | Path | None, keys_dir: str | Path | None):
        self.server_secret_file, self.keys_dir = server_secret_file, keys_dir

    @property
    def enabled(self) -> bool:
        return bool(self.server_secret_file and self.keys_dir)

    def role(self, token: str | None) -> str | None:
        """The role a token grants, or None (no token, malformed, unknown client, wrong mac)."""
        if not token or not self.enabled:
            return None
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "simhw1" or parts[2] not in ROLES:
            return None
        _, client, role, mac = parts
        try:
            expected = _mac(self.server_secret_file, client, role, _public_key(self.keys_dir, client))
        except (ValueError, OSError):
            return None
        return role if hmac.compare_digest(expected, mac) else None
