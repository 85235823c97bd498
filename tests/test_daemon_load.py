"""Load: 20 concurrent clients each push 500 configs through one daemon process."""

import threading

from daemon_helpers import bench_file, daemon_process

from simhw.control.client import DaemonClient
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig


def test_twenty_clients_times_500_pushes_each_acknowledged_once(tmp_path):
    path, cfg = bench_file(tmp_path)
    n_clients, per_client = 20, 500
    results, errors = {}, []

    def client(k):
        try:
            configs = [PhaseConfig.random(4, 6, 6, 2, seed=1000 * k + i) for i in range(per_client)]
            with DaemonClient(cfg.daemon.bind[k % 2], timeout=120, name=f"client{k}") as c:
                results[k] = (configs, c.push_many(configs, window=32))
        except Exception as e:  # reported below; the thread must not die silently
            errors.append((k, e))

    with daemon_process(path) as proc:
        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors[:3]
        with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
            active = c.status()["active_hash"]
            last_board = c.pushes(limit=1)[-1]
    assert proc.returncode == 0
    acks = [a for k in results for a in results[k][1]]
    assert len(acks) == n_clients * per_client
    assert len({a["push"] for a in acks}) == len(acks)  # each acknowledged exactly once
    for _k, (configs, got) in results.items():
        assert [a["hash"] for a in got] == [c.hash for c in configs]
    store = Store(cfg.daemon.store)
    pushes = store.pushes()
    assert len(pushes) == len(acks) and {p["id"] for p in pushes} == {a["push"] for a in acks}
    assert store.count("configs") == len({a["hash"] for a in acks})
    # the board shows the last acknowledged push
    assert pushes[-1]["id"] == max(a["push"] for a in acks) == last_board["id"]
    assert active == pushes[-1]["hash"]
    store.close()
