"""``simhw calibrate`` on the embedded simulated bench, then replaying its recording."""

import numpy as np

from calibration.calibrated import ModelRegistry
from calibration.data import CalibrationData
from simhw.app.cli import main
from simhw.values.bench_config import BenchConfig


def test_calibrate_the_simulated_bench_store_the_model_plot_and_replay(tmp_path, capsys):
    bench = tmp_path / "bench.toml"
    cfg = BenchConfig(name="t")
    cfg.sweep.points = 3
    cfg.simulation.error_scale = 5.0
    bench.write_text(cfg.to_toml())
    models, plots, rec = tmp_path / "models", tmp_path / "plots", tmp_path / "rec.npz"
    code = main(
        [
            "calibrate",
            "--bench",
            str(bench),
            "--parameterization",
            "physical",
            "--stages",
            "2",
            "--slots",
            "30",
            "--heldout",
            "15",
            "--models",
            str(models),
            "--plots",
            str(plots),
            "--save-data",
            str(rec),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "held-out end-to-end NMSE" in out.out and "calibrated model v1" in out.out
    assert "stage 2/2" in out.err
    assert (plots / "calibration_stages.png").stat().st_size > 10_000
    assert (plots / "magnitude_maps.png").stat().st_size > 10_000
    first = ModelRegistry(models).get(1)
    assert first.metrics["heldout_nmse_db"] < first.metrics["initial_heldout_nmse_db"] - 10
    data = CalibrationData.load(rec)
    # 2 x 30 pilots, 15 validation and 15 test configurations (the test set last, its size in the metadata)
    assert data.slots == 90 and data.codes.shape == (90, 4, 36) and data.y.shape == (90, 3, 2)
    assert data.meta["test"] == 15

    code = main(
        [
            "calibrate",
            "--bench",
            str(bench),
            "--data",
            str(rec),
            "--heldout",
            "15",
            "--parameterization",
            "physical",
            "--stages",
            "1",
            "--slots",
            "60",
            "--models",
            str(models),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    replay = ModelRegistry(models).get(2)
    assert replay.parent == 1
    assert abs(replay.metrics["heldout_nmse_db"] - first.metrics["heldout_nmse_db"]) < 3
    assert replay.metrics["test_configs"] == 15  # the replay reports on the recorded test set
    codes = data.codes[-15:]
    np.testing.assert_allclose(
        replay.predict(codes, 2),
        data.y[-15:],
        atol=3 * np.sqrt(np.mean(np.abs(data.y) ** 2)) * 10 ** (replay.metrics["heldout_nmse_db"] / 20),
    )


def test_calibrate_reports_unusable_input_without_a_traceback(tmp_path, capsys):
    rec = tmp_path / "rec.npz"
    rec.write_bytes(b"garbage")
    assert main(["calibrate", "--data", str(rec), "--models", str(tmp_path / "m")]) == 2
    assert "simhw: error:" in capsys.readouterr().err
