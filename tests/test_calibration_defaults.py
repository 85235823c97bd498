"""Calibration settings come from the bench file's [calibration] everywhere, a calibration that cannot
identify its model is refused before anything is measured, and ``simhw calibrate --endpoint`` calibrates
through a running daemon with its progress."""

import subprocess
import sys

import numpy as np
import pytest
from daemon_helpers import bench_file, daemon_process, ipc_bench

from calibration.calibrated import ModelRegistry
from calibration.data import CalibrationData
from calibration.parameterization import bench_parameterization
from simhw.app.cli import main
from simhw.app.embedded import embedded_daemon
from simhw.control.calibration_job import check_identifiable
from simhw.control.client import DaemonClient, DaemonError
from simhw.values.bench_config import BenchConfig

pytestmark = pytest.mark.timeout(300)


def test_the_cli_takes_its_defaults_from_the_bench_file(tmp_path, capsys):
    path, cfg = bench_file(tmp_path, stages=1, slots=25, heldout=8, residual=False)
    models, rec = tmp_path / "models", tmp_path / "rec.npz"
    assert main(["calibrate", "--bench", str(path), "--models", str(models), "--save-data", str(rec)]) == 0
    err = capsys.readouterr().err
    assert "stage 1/1" in err and "stage 2/" not in err
    assert ModelRegistry(models).get(1).parameterization == "physical"  # the file's, not the CLI's hybrid
    assert CalibrationData.load(rec).slots == 25 + 8 + 8  # pilots, validation, the test set (as large)
    assert (
        main(
            [
                "calibrate",
                "--bench",
                str(path),
                "--models",
                str(models),
                "--slots",
                "20",
                "--heldout",
                "5",
                "--save-data",
                str(rec),
            ]
        )
        == 0
    )  # the command line still overrides
    assert CalibrationData.load(rec).slots == 20 + 5 + 5


@pytest.mark.parametrize("name,receivers", [("physical", "gain"), ("hybrid", "port"), ("free", "gain")])
def test_the_slot_count_that_identifies_a_model_is_the_calibration_packages(name, receivers):
    """check_identifiable's threshold is where CalibrationData.check_against starts accepting measured data."""
    cfg = BenchConfig(name="t")
    cfg.sweep.points = 3
    f = cfg.frequencies()
    par = bench_parameterization(name, cfg.geometry.build(f), cfg.geometry.bits, False, receivers)
    with pytest.raises(ValueError, match=r"use at least (\d+) slots") as refused:
        check_identifiable(par, 1, f.size, 2)
    need = int(refused.value.args[0].split("use at least ")[1].split()[0])
    check_identifiable(par, need, f.size, 2)
    with pytest.raises(ValueError):
        check_identifiable(par, need - 1, f.size, 2)

    def data(slots):
        return CalibrationData(np.zeros((slots, 4, 36)), np.zeros((slots, f.size, 2), complex), f)

    data(need).check_against(par)
    with pytest.raises(ValueError, match="measure more slots"):
        data(need - 1).check_against(par)


def test_an_unidentifiable_calibration_is_refused_before_anything_is_measured(tmp_path, capsys):
    path, cfg = bench_file(tmp_path, parameterization="free", slots=5)
    assert main(["calibrate", "--bench", str(path), "--models", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "5 slots per stage give 60 real observations" in err and "use at least" in err
    assert "measuring" not in err and "stage" not in err.split("slots per stage")[1]
    cfg = ipc_bench(tmp_path, "refuse")
    cfg.sweep.points = 3
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
        latches = service.board.latched().latches
        with pytest.raises(DaemonError, match="bad_request: .* use at least"):
            c.calibrate(slots=3, parameterization="free")
        assert c.calibrations() == [] and service.board.latched().latches == latches  # no pilot was shown


def test_calibrate_through_a_running_daemon_with_progress(tmp_path):
    path, cfg = bench_file(tmp_path, slots=35)
    with daemon_process(path):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "simhw",
                "calibrate",
                "--endpoint",
                cfg.daemon.bind[0],
                "--publish",
                cfg.daemon.publish,
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
            (row,) = c.calibrations()
            rec = c.calibration(row["id"], model=False)[0]
    assert run.returncode == 0, run.stderr
    assert "stage 1/1: held-out NMSE" in run.stdout and "final (after the residual stage)" in run.stdout
    assert f"calibration #{row['id']} done" in run.stdout
    assert (rec["params"]["stages"], rec["params"]["slots"]) == (1, 35)  # the daemon's bench file's
    final = float(run.stdout.split("final (after the residual stage): held-out NMSE ")[1].split()[0])
    assert abs(final - rec["metrics"]["heldout_nmse_db"]) < 0.01
    print(run.stdout)
