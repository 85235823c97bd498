"""QCoDeS over the bench daemon: ``dond`` over three stored configurations on the simulated bench (real
daemon on loopback tcp); the dataset's arrays are the store's, and an instrument in a second process sees
the first one's pushes (and the first sees the second's)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from daemon_helpers import bench_file, daemon_process

pytest.importorskip("qcodes")
import qcodes as qc  # noqa: E402
from qcodes.dataset import ArraySweep, dond  # noqa: E402

from simhw.control.client import DaemonClient  # noqa: E402
from simhw.control.store import Store  # noqa: E402
from simhw.integrations.qcodes import SimBench  # noqa: E402
from simhw.values.phase_config import PhaseConfig  # noqa: E402

OTHER = textwrap.dedent("""
    import sys
    from simhw.integrations.qcodes import SimBench
    bench = SimBench("other", sys.argv[1], timeout=30)
    print(bench.config(), flush=True)
    bench.config(sys.argv[2])
    print(bench.config(), flush=True)
    bench.close()
""")


def test_dond_over_three_stored_configurations_and_a_second_process(tmp_path):
    path, cfg = bench_file(tmp_path)
    endpoint = cfg.daemon.bind[0]
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=s, name=f"cfg{s}") for s in (21, 22, 23, 24)]
    qc.initialise_or_create_database_at(tmp_path / "qcodes.db")
    exp = qc.load_or_create_experiment("simhw", sample_name="sim bench")
    with daemon_process(path):
        with DaemonClient(endpoint, timeout=30) as c:  # stored on the bench, as a user's earlier pushes
            for config in configs:  # the same patterns first came under other names (a Bluesky scan's, say)
                c.push(config.replace(name=f"scan{config.name}"))
            for config in configs:
                c.push(config)
        bench = SimBench("sim", endpoint, timeout=30)
        try:
            names = [c.name for c in configs[:3]]
            names[1] = configs[1].hash  # by hash works as by name
            ds, _, _ = dond(
                ArraySweep(bench.config, names, get_after_set=True),
                bench.s,
                bench.measurement,
                exp=exp,
                do_plot=False,
                show_progress=False,
            )
            data = ds.get_parameter_data()
            assert sorted(data) == ["sim_measurement", "sim_s"]
            # a second process: it sees what this one pushed last, pushes the fourth, and this one sees it
            other = subprocess.run(
                [sys.executable, "-c", OTHER, endpoint, "cfg24"], capture_output=True, text=True, timeout=120
            )
            assert other.returncode == 0, other.stderr[-2000:]
            assert other.stdout.split() == [configs[2].hash, configs[3].hash]
            assert bench.config() == configs[3].hash
            assert bench.model_version() == 0
        finally:
            bench.close()
    s = data["sim_s"]
    assert s["sim_s"].shape == (3, 3, 2) and s["sim_s"].dtype == np.complex128
    np.testing.assert_array_equal(s["sim_config"][:, 0, 0], [c.hash for c in configs[:3]])
    store = Store(cfg.daemon.store)
    try:
        for i, mid in enumerate(data["sim_measurement"]["sim_measurement"]):
            stored = store.get_measurement(int(mid))
            np.testing.assert_array_equal(s["sim_s"][i], stored["s"])
            np.testing.assert_array_equal(s["sim_frequency"][i, :, 0], stored["frequencies"])
            np.testing.assert_array_equal(s["sim_port"][i, 0], [2, 3])
            assert stored["hash"] == configs[i].hash
    finally:
        store.close()


def test_the_setpoints_are_there_after_connecting_and_an_unknown_name_is_refused_clearly(tmp_path, caplog):
    """Built on an empty store, the instrument measures once, so frequency and port can be read (and a
    snapshot updated) before any get of s."""
    path, cfg = bench_file(tmp_path)
    with daemon_process(path):
        bench = SimBench("sim2", cfg.daemon.bind[0], timeout=30)
        try:
            with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
                (only,) = c.measurements()
                f = c.measurement(only["id"]).frequencies
            np.testing.assert_array_equal(bench.frequency(), f)
            np.testing.assert_array_equal(bench.port(), [2, 3])
            with caplog.at_level("WARNING"):
                snap = bench.snapshot(update=True)
            assert not [r for r in caplog.records if "Could not update" in r.getMessage()], caplog.text
            np.testing.assert_array_equal(snap["parameters"]["frequency"]["value"], f)
            with pytest.raises(KeyError, match="no stored configuration named 'nope'"):
                bench.config(np.str_("nope"))
        finally:
            bench.close()


def test_a_name_finds_the_newest_configuration_stored_under_it_by_any_name(tmp_path):
    """The store keeps a pattern once, under its first name; later names are found too, the newest wins."""
    store = Store(tmp_path / "s.sqlite")
    try:
        a, b = (PhaseConfig.random(2, 3, 3, 2, seed=s, name="first") for s in (1, 2))
        store.record_pushes([(a, None, "r1", True), (a.replace(name="beam"), None, "r2", True)])
        assert store.config_named("first") == store.config_named("beam") == a.hash
        store.record_pushes([(b.replace(name="beam"), None, "r3", True)])
        assert store.config_named("beam") == b.hash and store.config_named("nope") is None
        store.record_pushes([(a.replace(name="beam"), None, "r4", True)] * 3)  # known names add no tags again
        assert store.tags("config", a.hash) == ["name:beam"] and store.get_config(a.hash).name == "first"
    finally:
        store.close()
