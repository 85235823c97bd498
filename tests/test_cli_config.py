import subprocess
import sys

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
