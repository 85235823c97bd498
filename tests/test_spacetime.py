"""Seed 001 on small instances: the space-only block's analytic gradient, DAL-aided synthesis
against the baseline, and the randomised downlink's scheduling figures."""

import numpy as np
import pytest

from simhw.designs.spacetime.scheduling import Downlink, STDownlink, jain, mimo_benchmark, simulate_st
from simhw.designs.spacetime.synthesis import dal_block, haar_target, synthesize


def test_block_gradients_match_central_differences():
    block = dal_block(2, 3, n_pc=2, n_ac=1, q_side=2)
    rng = np.random.default_rng(0)
    d = [
        dl * (rng.uniform(0.5, 2.0, dl.size) if k == "ac" else np.exp(1j * rng.uniform(0, 6, dl.size)))
        for dl, k in zip(block.initial(1), block.kinds)
    ]
    target = haar_target(4, 4, seed=2)
    _, grads = block.value_and_grads(d, target)
    h = 1e-6
    for l, kind in enumerate(block.kinds):
        for n in range(d[l].size):
            dp, dm = [x.copy() for x in d], [x.copy() for x in d]
            if kind == "pc":
                dp[l][n] *= np.exp(1j * h)
                dm[l][n] *= np.exp(-1j * h)
            else:
                dp[l][n] *= (abs(d[l][n]) + h) / abs(d[l][n])
                dm[l][n] *= (abs(d[l][n]) - h) / abs(d[l][n])
            fd = (block.value_and_grads(dp, target)[0] - block.value_and_grads(dm, target)[0]) / (2 * h)
            assert grads[l][n] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_dal_aided_synthesis_beats_the_baseline_and_improves_with_more_atoms():
    target = haar_target(4, 4, seed=0)
    err = {n: synthesize(dal_block(2, n, n_pc=4), target, iterations=120).error for n in (2, 3, 4)}
    assert err[3] < 0.1 * err[2] and err[4] < err[3], err  # N = 4 is the baseline (no absorbing atoms)


def test_projection_keeps_amplitudes_in_their_box_and_the_power_at_the_limit():
    block = dal_block(2, 3, n_pc=3, n_ac=2)
    target = haar_target(4, 4, seed=1)
    r = synthesize(block, target, iterations=40, power_limit=0.5 * np.sum(np.abs(target) ** 2))
    lo, hi = block.amp_range
    for dl, kind in zip(r.d, block.kinds):
        if kind == "ac":
            assert np.all(np.abs(dl) >= lo - 1e-12) and np.all(np.abs(dl) <= hi + 1e-12)
            assert np.allclose(np.angle(dl), 0)
        else:
            assert np.allclose(np.abs(dl), 1)
    assert r.power_gain <= 0.5 + 1e-9
    with pytest.raises(ValueError, match="target must be 4 x 4"):
        synthesize(block, np.eye(3), iterations=1)


def test_random_beams_exploit_multiuser_diversity_and_serve_more_users_fairly():
    block = dal_block(2, 4, n_pc=4, q_side=3)
    synth = synthesize(block, haar_target(9, 4, seed=3), iterations=60)
    tx = STDownlink(block, synth.d, 2)
    link = Downlink()
    few, many = simulate_st(tx, link, 10, 8, intervals=6, seed=1), simulate_st(tx, link, 400, 8, intervals=6, seed=1)
    assert many["ta_sum_rate"] > few["ta_sum_rate"] + 2  # more users, better best-beam SINRs
    mimo = mimo_benchmark(9, 4, link, 400, intervals=6, seed=1)
    assert many["fairness"] > 3 * mimo["fairness"] and many["distinct_served"] > 4 * 2
    assert simulate_st(tx, link, 400, 16, intervals=6, seed=1)["distinct_served"] > many["distinct_served"]
    # the benchmark's feedback grows as K x Q: past n_c / Q users nothing is left for data
    huge = 2 * link.n_c // 9
    assert mimo_benchmark(9, 4, link, huge, intervals=1)["effective_sum_rate"] == 0.0
    assert simulate_st(tx, link, huge, 4, intervals=1)["effective_sum_rate"] > 0
    assert jain([1, 1, 1, 1]) == 1.0 and jain([1, 0, 0, 0]) == 0.25


def test_st_commands(tmp_path):
    import subprocess
    import sys

    from daemon_helpers import bench_file, daemon_process

    from simhw.values.phase_config import PhaseConfig

    r = subprocess.run(
        [sys.executable, "-m", "simhw", "st", "reproduce", "--quick", "--out", str(tmp_path / "rep")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "baseline" in r.stdout and (tmp_path / "rep" / "seed001_sum_rate.png").exists()
    path, cfg = bench_file(tmp_path)
    base = tmp_path / "base.json"
    PhaseConfig.random(4, 6, 6, 2, seed=3).save(base)
    with daemon_process(path):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "simhw",
                "st",
                "session",
                "--config",
                str(base),
                "--slots",
                "2000",
                "--rate",
                "1000",
                "--endpoint",
                cfg.daemon.bind[0],
                "--out",
                str(tmp_path / "s.npz"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert r.returncode == 0, r.stderr
    saved = np.load(tmp_path / "s.npz")
    assert saved["responses"].shape == (2000,) and saved["codes"].shape == (2000, 4, 6, 6) and int(saved["missed"]) == 0
