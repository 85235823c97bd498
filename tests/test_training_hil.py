"""The hardware-in-the-loop check end to end, and the ``simhw train`` command."""

import json
import subprocess
import sys

import numpy as np
import pytest

from simhw.app.hil import hil_check
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig


def test_config_trained_on_the_calibrated_model_wins_on_the_bench():
    """Errors 10x the paper's bounds; calibrate through the daemon, train on ideal / calibrated / truth,
    push each through the daemon and measure it on the simulated bench."""
    report = hil_check(
        BenchConfig(name="hil-test"), port=0, stages=2, slots=60, episodes=150, starts=8, error_scale=10.0
    )
    print("\n" + report.table())
    ideal, calibrated, truth = (report.measured(n) for n in ("ideal", "calibrated", "truth"))
    assert calibrated > ideal + 3.0
    assert abs(truth - calibrated) <= 1.0
    # the calibrated model is right about what it trained (the truth row agrees by construction: not a check)
    (cal_row,) = [row for row in report.rows if row["model"] == "calibrated"]
    assert cal_row["measured_db"] == pytest.approx(cal_row["predicted_db"], abs=1.0)
    assert report.rows[0]["predicted_db"] - report.rows[0]["measured_db"] > 3.0  # the ideal model is wrong


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "simhw", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_train_commands_write_configs_and_reports(tmp_path):
    r = run(
        "train",
        "separation",
        "--n-side",
        "4",
        "--layers",
        "3",
        "--users",
        "2",
        "--episodes",
        "50",
        "--bits",
        "4",
        "--out",
        str(tmp_path / "sep"),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    cfg = PhaseConfig.load(tmp_path / "sep" / "config.json")
    report = json.loads((tmp_path / "sep" / "report.json").read_text())
    assert cfg.bits == 4 and cfg.shape == (3, 4, 4)
    assert report["metrics_quantized"]["constellation_mse"] == pytest.approx(cfg.extra["metrics"]["constellation_mse"])
    assert (tmp_path / "sep" / "constellation.png").stat().st_size > 1000
    bench = BenchConfig(name="t")
    bench.geometry.layers, bench.geometry.rows, bench.geometry.cols = 2, 3, 3
    (tmp_path / "bench.toml").write_text(bench.to_toml())
    r = run(
        "train",
        "focus",
        "--bench",
        str(tmp_path / "bench.toml"),
        "--null",
        "--episodes",
        "40",
        "--starts",
        "2",
        "--out",
        str(tmp_path / "focus"),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    cfg = PhaseConfig.load(tmp_path / "focus" / "config.json")
    assert cfg.shape == (2, 3, 3) and cfg.bits == bench.geometry.bits
    reported = json.loads((tmp_path / "focus" / "report.json").read_text())["metrics_quantized"]["contrast_db"]
    # the saved configuration, through the bench's ideal model: port 1 over port 2, as reported, and far
    # above what an untrained configuration gives
    model = SIMModel.from_geometry(bench.geometry.build(bench.frequencies()))

    def contrast_db(c):
        power = np.sum(np.abs(model.response(c.phases()[None])[0, ..., 0]) ** 2, axis=0)
        return 10 * np.log10(power[0] / power[1])

    assert contrast_db(cfg) == pytest.approx(reported, abs=1e-6)
    assert reported > contrast_db(PhaseConfig.random(2, 3, 3, bench.geometry.bits, seed=1)) + 10


def test_train_refuses_impossible_requests(tmp_path):
    r = run("train", "separation", "--users", "5", "--bs-antennas", "4", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "5 users need at least 5 BS antennas" in r.stderr
    r = run("train", "beams", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "invalid choice: 'beams'" in r.stderr
    # a calibrated model of a 4-layer 6x6 SIM on a bench file describing a 2-layer 3x3 board
    from calibration.calibrated import CalibratedModel
    from simhw.physics.propagation import cascade_matrices

    big = BenchConfig(name="big")
    model = CalibratedModel(cascade_matrices(big.geometry.build(big.frequencies())), np.zeros(1), "physical", {})
    model.save(tmp_path / "model.npz")
    small = BenchConfig(name="small")
    small.geometry.layers, small.geometry.rows, small.geometry.cols = 2, 3, 3
    (tmp_path / "small.toml").write_text(small.to_toml())
    r = run(
        "train",
        "focus",
        "--bench",
        str(tmp_path / "small.toml"),
        "--model",
        str(tmp_path / "model.npz"),
        "--out",
        str(tmp_path / "x"),
    )
    assert r.returncode == 2 and "the model has 4 layers x 36 atoms, the board drives 2 layers x 9 atoms" in r.stderr
