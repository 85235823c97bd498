"""``simhw demo --quick`` runs the whole loop; its report's numbers are checked here."""

import json
import subprocess
import sys


def test_quick_demo_report(tmp_path):
    r = subprocess.run([sys.executable, "-m", "simhw", "demo", "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    cal = report["calibration"]["metrics"]
    # calibration improved the prediction NMSE
    assert cal["heldout_nmse_db"] < cal["initial_heldout_nmse_db"] - 10 and report["calibration_improved"]
    # the trained config met its target on the bench, and the ideal-model one did worse
    ideal, calibrated = report["trained"]
    assert calibrated["contrast_db"] >= report["target_contrast_db"] and report["trained_target_met"]
    assert calibrated["contrast_db"] > ideal["contrast_db"] + 5
    # the recalibration fired after drift, the model held afterwards, and re-training restored the target
    assert report["recalibration_fired"] and report["drift"]["recalibrations"] >= 1
    assert "prediction_residual_db" in report["drift"]["reasons"][0]
    assert report["held_after_recalibration"]
    # drift cost the old configuration contrast (5 dB here), and re-training on the new model won it back
    drifted, restored = report["drifted"]["contrast_db"], report["restored"]["contrast_db"]
    assert drifted < calibrated["contrast_db"] - 1 and restored > drifted + 1
    assert restored >= report["target_contrast_db"]
    html = (tmp_path / "report.html").read_text()
    for img in ("calibration.png", "magnitude_maps.png", "ports.png", "indicators.png"):
        assert f'src="{img}"' in html and (tmp_path / img).stat().st_size > 5000
    assert "[1/6]" in r.stderr and "[6/6]" in r.stderr
