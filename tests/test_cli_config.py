import subprocess
import sys

import numpy as np
import scipy.io

from simhw.integrations import matlab
from simhw.values.phase_config import PhaseConfig


def run(*args):
    return subprocess.run([sys.executable, "-m", "simhw", *args], capture_output=True, text=True, timeout=60)


def test_config_random_and_show(tmp_path):
    path = tmp_path / "c.json"
    r = run("config", "random", str(path), "--layers", "2", "--rows", "3", "--cols", "4", "--bits", "2", "--seed", "1")
    assert r.returncode == 0, r.stderr
    cfg = PhaseConfig.load(path)
    assert r.stdout.strip() == cfg.hash and cfg.shape == (2, 3, 4) and cfg.bits == 2
    r = run("config", "show", str(path))
    assert r.returncode == 0 and cfg.hash in r.stdout and "2 layers x 3 rows x 4 cols, 2 bit(s)" in r.stdout


def test_config_show_bad_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "simhw.phase_config", "version": 99}')
    r = run("config", "show", str(path))
    assert r.returncode == 2 and "unsupported phase-config format version 99" in r.stderr


def test_mat_files_are_recognised_in_any_case_and_random_prints_the_hash(tmp_path):
    path = tmp_path / "STEER.MAT"
    r = run("config", "random", str(path), "--layers", "2", "--rows", "3", "--cols", "4", "--bits", "2", "--seed", "1")
    assert r.returncode == 0, r.stderr
    (cfg,) = matlab.read_configs(path)
    assert r.stdout.strip() == cfg.hash and not (tmp_path / "STEER.MAT.tmp").exists()
    r = run("config", "show", str(path))
    assert r.returncode == 0 and f"hash:       {cfg.hash}" in r.stdout, r.stderr


def test_config_show_of_a_mat_file_with_foreign_metadata_is_a_clear_error(tmp_path):
    path = tmp_path / "theirs.mat"
    scipy.io.savemat(path, {"codes": np.zeros((2, 2, 1)), "bits": 2.0, "metadata": '{"angle_deg": 10}'})
    r = run("config", "show", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == (
        f"simhw: error: {path}: 'metadata' entry 1 has unknown key(s) 'angle_deg'; "
        "allowed: objective, model_id, created_at, extra"
    )
