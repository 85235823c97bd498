"""``simhw.open_bench``: the notebook API over the same drivers and store the CLI uses."""

import numpy as np

import simhw
from simhw.values.bench_config import BenchConfig


def test_open_bench_gives_board_vna_store_and_model(tmp_path):
    cfg = BenchConfig(name="api")
    cfg.sweep.points = 3
    cfg.daemon.store = str(tmp_path / "store.sqlite")
    path = tmp_path / "bench.toml"
    path.write_text(cfg.to_toml())
    config = simhw.PhaseConfig.random(4, 6, 6, 2, seed=4)
    with simhw.open_bench(path) as bench:
        assert bench.model is None
        assert bench.push(config) == config.hash
        np.testing.assert_array_equal(bench.board.read_active(), config.codes)
        m = bench.measure()
        assert m.config_hash == config.hash and m.s.shape == (3, 2)
        truth = bench.simulation.truth.response(config.codes, 2, m.frequencies)
        np.testing.assert_allclose(m.s, truth, rtol=1e-3)  # complex: magnitude and phase, within the noise
        assert np.max(np.abs(np.angle(m.s / truth))) < 1e-3
        assert bench.store.count("pushes") == 1 and bench.store.count("measurements") == 1
        # a calibration stored by the daemon (or anyone) is the bench's model
        from simhw.app.calibrate_command import calibrate_bench

    run = calibrate_bench(cfg, "physical", stages=1, slots=30, heldout=10, models=None)[0]
    with simhw.open_bench(path) as bench:
        bench.store.finish_calibration(
            bench.store.start_calibration("requested", "test", {}, None), "done", [], {}, run.model.to_bytes()
        )
        assert bench.model.hash == run.model.hash
