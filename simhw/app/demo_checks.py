"""The demo's checks (``simhw demo``): each threshold or tolerance once, and how far a run is from failing
each (its margin in dB)."""

from __future__ import annotations

__all__ = [
    "BEATS_IDEAL_DB",
    "CHECKS",
    "FRESH",
    "HELDOUT_WITHIN_DB",
    "PREDICTION_WITHIN_DB",
    "RESTORED_WITHIN_DB",
    "margins",
]

PREDICTION_WITHIN_DB = 3.0  # a calibrated-trained configuration measures within this of its prediction
HELDOUT_WITHIN_DB = 2.0  # the reported held-out NMSE is within this of fresh configurations
BEATS_IDEAL_DB = 15.0  # calibrated-trained beats ideal-trained by this much raw contrast
RESTORED_WITHIN_DB = 3.0  # the configuration re-trained after drift measures within this of its prediction
FRESH = 30
CHECKS = (
    "calibration_improved",
    "heldout_honest",
    "prediction_held",
    "beats_ideal",
    "recalibration_fired",
    "held_after_recalibration",
    "restored",
)


def margins(report: dict) -> dict:
    """How far (dB) each check is from failing: a threshold check's distance past its threshold, a
    tolerance check's tolerance minus the difference it saw; None where a check is not a figure."""
    m = report["calibration"]["metrics"]
    fresh = report["calibration"]["fresh"]
    ideal_row, cal_row = report["trained"]
    restored = report["restored"]
    tl = report["drift"]["timeline"][-2:]
    held = [
        e[k + "_threshold"] - abs(e[k])
        for e in tl
        for k in ("prediction_residual_db", "received_power_db")
        if k in e and k + "_threshold" in e
    ]
    return {
        "calibration_improved": m["initial_heldout_nmse_db"] - 5 - m["heldout_nmse_db"],
        "heldout_honest": HELDOUT_WITHIN_DB - abs(fresh["nmse_db"] - m["heldout_nmse_db"]),
        "prediction_held": PREDICTION_WITHIN_DB
        - max(
            abs(cal_row["measured_objective_db"] - cal_row["predicted_contrast_db"]),
            abs(cal_row["measured_gain_db"] - cal_row["predicted_gain_db"]),
        ),
        "beats_ideal": cal_row["contrast_db"] - ideal_row["contrast_db"] - BEATS_IDEAL_DB,
        "recalibration_fired": None,
        "held_after_recalibration": min(held) if held else None,
        "restored": min(
            RESTORED_WITHIN_DB - abs(restored["measured_objective_db"] - restored["predicted_contrast_db"]),
            restored["contrast_db"] - ideal_row["contrast_db"] - BEATS_IDEAL_DB,
        ),
    }
