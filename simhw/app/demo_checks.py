"""The demo's checks (``simhw demo``): each threshold or tolerance once, and how far a run is from failing
each (its margin in dB)."""

from __future__ import annotations

from calibration.indicators import BoardTemperature, PredictionResidual, ReceivedPowerChange

__all__ = [
    "BEATS_IDEAL_DB",
    "CHECKS",
    "FRESH",
    "HELDOUT_WITHIN_DB",
    "PREDICTION_WITHIN_DB",
    "RESTORED_WITHIN_DB",
    "IMPROVED_BY_DB",
    "KINDS",
    "TWO_SIDED",
    "passed_checks",
    "margin_rows",
    "margins",
    "margins_text",
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


IMPROVED_BY_DB = 5.0  # calibration lowers the held-out NMSE by at least this
#: whether an indicator fires on a change either way (else only on a rise, as a growing prediction error)
TWO_SIDED = {k.name: k.two_sided for k in (PredictionResidual, ReceivedPowerChange, BoardTemperature)}


KINDS = {
    "threshold": "at least",  # the figure must reach the limit; margin: how far past it
    "tolerance": "within",  # the figure is a difference that must stay within the limit either way
    "ceiling": "at most",  # the figure must stay at or below the limit (a drop is welcome)
}


def _row(check: str, figure: str, kind: str, limit: float, value: float) -> dict:
    spare = value - limit if kind == "threshold" else limit - value
    return {"check": check, "figure": figure, "kind": kind, "limit_db": limit, "value_db": value, "spare_db": spare}


def margin_rows(report: dict) -> list[dict]:
    """Every figure a check compares, with how far (dB) it is from failing (``spare_db``): a threshold
    figure's distance past its threshold; a tolerance's limit minus the difference it saw (so never more
    than the limit); a ceiling's limit minus the figure (a one-sided indicator: more than the limit when
    the figure dropped)."""
    m = report["calibration"]["metrics"]
    fresh = report["calibration"]["fresh"]
    ideal_row, cal_row = report["trained"]
    restored = report["restored"]
    rows = [
        _row(
            "calibration_improved",
            "held-out NMSE gained over the ideal model",
            "threshold",
            IMPROVED_BY_DB,
            m["initial_heldout_nmse_db"] - m["heldout_nmse_db"],
        ),
        _row(
            "heldout_honest",
            "reported held-out NMSE against fresh configurations",
            "tolerance",
            HELDOUT_WITHIN_DB,
            abs(fresh["nmse_db"] - m["heldout_nmse_db"]),
        ),
        _row(
            "prediction_held",
            "trained objective, measured against predicted",
            "tolerance",
            PREDICTION_WITHIN_DB,
            abs(cal_row["measured_objective_db"] - cal_row["predicted_contrast_db"]),
        ),
        _row(
            "prediction_held",
            "gain, measured against predicted",
            "tolerance",
            PREDICTION_WITHIN_DB,
            abs(cal_row["measured_gain_db"] - cal_row["predicted_gain_db"]),
        ),
        _row(
            "beats_ideal",
            "calibrated-trained contrast over ideal-trained",
            "threshold",
            BEATS_IDEAL_DB,
            cal_row["contrast_db"] - ideal_row["contrast_db"],
        ),
    ]
    rows += [
        _row(
            "held_after_recalibration",
            f"{k} against its baseline at +{e['clock'] / 60:.0f} min",
            "tolerance" if TWO_SIDED.get(k, True) else "ceiling",
            e[k + "_threshold"],
            abs(e[k]) if TWO_SIDED.get(k, True) else e[k],
        )
        for e in report["drift"]["timeline"][-2:]
        for k in sorted(e)
        if k + "_threshold" in e
    ]
    rows += [
        _row(
            "restored",
            "re-trained objective, measured against predicted",
            "tolerance",
            RESTORED_WITHIN_DB,
            abs(restored["measured_objective_db"] - restored["predicted_contrast_db"]),
        ),
        _row(
            "restored",
            "re-trained contrast over ideal-trained",
            "threshold",
            BEATS_IDEAL_DB,
            restored["contrast_db"] - ideal_row["contrast_db"],
        ),
    ]
    return rows


def _worst(rows: list[dict]) -> dict:
    """Each check's row with the least to spare (its margin), for the checks that compare a figure."""
    worst: dict = {}
    for r in rows:
        if r["check"] not in worst or r["spare_db"] < worst[r["check"]]["spare_db"]:
            worst[r["check"]] = r
    return worst


def passed_checks(report: dict) -> dict:
    """Whether each check passed: it compared at least one figure and every one is within its margin (a
    check with nothing to compare, such as no indicator reading after the recalibration, fails); and a
    recalibration fired."""
    worst = _worst(report["margin_rows"])
    passed = {k: k in worst and worst[k]["spare_db"] >= 0 for k in CHECKS}
    passed["recalibration_fired"] = bool(report["drift"]["recalibrations"])
    return passed


def margins(rows: list[dict]) -> dict:
    """Each check's margin (dB): the smallest over the figures it compares; None where a check is not a
    figure (``recalibration_fired``)."""
    worst = _worst(rows)
    return {k: worst[k]["spare_db"] if k in worst else None for k in CHECKS}


def margins_text(rows: list[dict]) -> str:
    """Each check's margin as the demo prints it (dB to spare: its smallest over the figures it compares),
    with the figure that sets it and what that figure must be."""
    return "check margins (dB to spare): " + ", ".join(
        f"{k} {r['spare_db']:.2f} ({r['value_db']:.2f}, {KINDS[r['kind']]} {r['limit_db']:.2f})"
        for k, r in _worst(rows).items()
    )
