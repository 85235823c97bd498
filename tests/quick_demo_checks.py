"""``simhw demo --quick`` runs the whole loop; its report's numbers are checked here.

The guide's quick start runs it (``simhw demo --quick --out out/demo``, run by ``tests/test_docs.py``), and
that run's output is what :func:`check_quick_demo_report` checks, so the suite runs the quick demo once."""

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.calibrated import CalibratedModel
from simhw.app.hil import CAP_DB
from simhw.control.store import Store


def check_quick_demo_report(tmp_path: Path, stderr: str) -> None:
    """Check the report ``simhw demo --quick --out tmp_path`` wrote, and its progress on ``stderr``."""
    assert (tmp_path / "report.json").is_file(), f"no quick demo ran into {tmp_path}"
    report = json.loads((tmp_path / "report.json").read_text())
    cal = report["calibration"]["metrics"]
    assert report["bench"] == "realistic" and report["points"] == 5  # the demo's default bench
    assert all(report["checks"].values()), report["checks"]
    # calibration improved the prediction NMSE, and what it reported held on fresh configurations
    assert cal["heldout_nmse_db"] < cal["initial_heldout_nmse_db"] - 5
    fresh = report["calibration"]["fresh"]
    assert abs(fresh["nmse_db"] - cal["heldout_nmse_db"]) <= 2.0
    # the fresh figure is what the store holds: the demo's fresh measurements against the stored model
    store = Store(tmp_path / "store.sqlite")
    try:
        model = CalibratedModel.from_bytes(store.get_calibration(report["calibration"]["id"])["model"])
        rows = [
            m
            for m in store.list_measurements(500)
            if m["hash"] and store.get_config(m["hash"]).name.startswith("demo-fresh-")
        ]
        codes = np.array([store.get_config(m["hash"]).codes for m in rows])
        s = np.array([store.get_measurement(m["id"])["s"] for m in rows])
        bits = store.get_config(rows[0]["hash"]).bits
    finally:
        store.close()
    pred = model.predict(codes, bits)
    assert len(rows) == fresh["configs"] >= 20
    assert 10 * np.log10(np.sum(np.abs(pred - s) ** 2) / np.sum(np.abs(s) ** 2)) == pytest.approx(
        fresh["nmse_db"], abs=1e-9
    )
    assert cal["residual_stage"] == "kept" and cal["validation_nmse_db"] < cal["heldout_before_residual_db"]
    # the calibrated-trained config measured as predicted and beat the ideal-model one by 15 dB of contrast
    ideal, calibrated = report["trained"]
    assert abs(calibrated["measured_objective_db"] - calibrated["predicted_contrast_db"]) <= 3.0
    assert abs(calibrated["measured_gain_db"] - calibrated["predicted_gain_db"]) <= 3.0
    assert calibrated["contrast_db"] >= ideal["contrast_db"] + 15
    assert report["cap_db"] == pytest.approx(min(-cal["heldout_nmse_db"], CAP_DB))  # the model's uncertainty
    # the recalibration fired after drift on a threshold derived from the model, the model held afterwards
    assert report["recalibration_fired"] and report["drift"]["recalibrations"] >= 1
    assert "prediction_residual_db" in report["drift"]["reasons"][0]
    # every check's record agrees with its own figures, and the threshold follows the model in force: the
    # recalibrated model, with its own spread, watches with another threshold than the first
    timeline = report["drift"]["timeline"]
    for e in timeline:  # the prediction residual fires on a rise only, the received power on a change either way
        over = [e[k] > e[k + "_threshold"] for k in ("prediction_residual_db",) if k in e]
        over += [abs(e[k]) > e[k + "_threshold"] for k in ("received_power_db",) if k in e]
        assert e["crossed"] == any(over), e
    first, last = timeline[0]["prediction_residual_db_threshold"], timeline[-1]["prediction_residual_db_threshold"]
    assert first != pytest.approx(last, abs=1e-6), (first, last)
    assert report["held_after_recalibration"]
    # the configuration re-trained on the recalibrated model measured as that model predicted
    restored = report["restored"]
    assert abs(restored["measured_objective_db"] - restored["predicted_contrast_db"]) <= 3.0
    assert restored["contrast_db"] >= ideal["contrast_db"] + 15
    # every figure a check compares carries its margin: the check passed exactly where all its margins are
    # non-negative, each margin is recomputed from the figures above, and the thresholds have 3 dB to spare
    rows = report["margin_rows"]
    print(
        "\n".join(
            f"{r['check']:<26}{r['kind']:<10}{r['value_db']:>9.2f}{r['limit_db']:>7.2f}{r['spare_db']:>7.2f}"
            for r in rows
        )
    )
    assert {r["check"] for r in rows} == set(report["checks"]) - {"recalibration_fired"}
    for check in report["checks"]:
        spares = [r["spare_db"] for r in rows if r["check"] == check]
        assert report["margins"][check] == (min(spares) if spares else None)
    # each figure recomputed from what the report says happened; the indicators' margins against the
    # scheduler's own verdict in the store's events (a margin that misjudges an indicator's side fails here)
    figures = {(r["check"], r["figure"]): r["value_db"] for r in rows}
    expected = {
        ("calibration_improved", "held-out NMSE gained over the ideal model"): cal["initial_heldout_nmse_db"]
        - cal["heldout_nmse_db"],
        ("heldout_honest", "reported held-out NMSE against fresh configurations"): abs(
            fresh["nmse_db"] - cal["heldout_nmse_db"]
        ),
        ("prediction_held", "trained objective, measured against predicted"): abs(
            calibrated["measured_objective_db"] - calibrated["predicted_contrast_db"]
        ),
        ("prediction_held", "gain, measured against predicted"): abs(
            calibrated["measured_gain_db"] - calibrated["predicted_gain_db"]
        ),
        ("beats_ideal", "calibrated-trained contrast over ideal-trained"): calibrated["contrast_db"]
        - ideal["contrast_db"],
        ("restored", "re-trained objective, measured against predicted"): abs(
            restored["measured_objective_db"] - restored["predicted_contrast_db"]
        ),
        ("restored", "re-trained contrast over ideal-trained"): restored["contrast_db"] - ideal["contrast_db"],
    }
    for key, value in expected.items():
        assert figures[key] == pytest.approx(value, abs=1e-9), key
    held = [r for r in rows if r["check"] == "held_after_recalibration"]
    assert sorted(r["value_db"] for r in held) == pytest.approx(
        sorted(
            [e["prediction_residual_db"] for e in timeline[-2:]] + [abs(e["received_power_db"]) for e in timeline[-2:]]
        )
    )
    assert len(held) == sum(k.endswith("_threshold") for e in timeline[-2:] for k in e) >= 2
    assert (min(r["spare_db"] for r in held) >= 0) == (not any(e["crossed"] for e in timeline[-2:]))
    beats = {r["figure"]: r for r in rows if r["kind"] == "threshold"}
    assert all(r["spare_db"] >= 3.0 for r in beats.values()), beats
    printed = stderr[stderr.index("check margins (dB to spare): ") :].splitlines()[0]
    for check, margin in report["margins"].items():  # every check's margin is printed, as the report has it
        assert margin is None or f"{check} {margin:.2f} (" in printed, (check, printed)
    html = (tmp_path / "report.html").read_text()
    for img in ("calibration.png", "magnitude_maps.png", "ports.png", "indicators.png"):
        assert f'src="{img}"' in html and (tmp_path / img).stat().st_size > 5000
    assert "[1/6]" in stderr and "[6/6]" in stderr
