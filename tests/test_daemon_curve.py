"""CURVE on the daemon: known client keys work, an unknown key gets nothing done and is logged."""

import json

import pytest
import zmq.auth
from daemon_helpers import bench_file, daemon_process

from simhw.control.client import DaemonClient, DaemonTimeout
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig


def test_unknown_client_key_is_refused_and_logged(tmp_path):
    keys, mine, other = tmp_path / "allowed", tmp_path / "mine", tmp_path / "other"
    for d in (keys, mine, other):
        d.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(mine), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(mine), "client")
    _, stranger_secret = zmq.auth.create_certificates(str(other), "stranger")
    (keys / "client.key").write_text(open(client_public).read())
    path, cfg = bench_file(tmp_path, daemon__keys=str(keys), daemon__server_key=server_secret)
    log = tmp_path / "daemon.log"
    with daemon_process(path, log=log):
        with DaemonClient(cfg.daemon.bind[0], timeout=10, curve=(server_public, client_secret)) as ok:
            assert ok.push(PhaseConfig.random(4, 6, 6, 2, seed=1))["applied"]
        with DaemonClient(cfg.daemon.bind[0], timeout=1.5, curve=(server_public, stranger_secret)) as bad:
            with pytest.raises(DaemonTimeout):
                bad.push(PhaseConfig.random(4, 6, 6, 2, seed=2))
        with DaemonClient(cfg.daemon.bind[0], timeout=1.5) as plain:  # no CURVE at all
            with pytest.raises(DaemonTimeout):
                plain.status()
    store = Store(cfg.daemon.store)
    assert store.count("pushes") == 1  # the refused clients changed nothing
    store.close()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("event") == "auth_denied" for e in events)
