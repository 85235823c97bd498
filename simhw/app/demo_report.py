"""The demo's report (``simhw demo``): the plots and the HTML page a person reads."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from calibration.plots import plot_magnitude_maps
from simhw.app.demo_checks import (
    BEATS_IDEAL_DB,
    HELDOUT_WITHIN_DB,
    IMPROVED_BY_DB,
    KINDS,
    PREDICTION_WITHIN_DB,
    RESTORED_WITHIN_DB,
)

__all__ = ["interval_text", "report_html", "selection_text", "write_plots"]


def interval_text(metrics: dict) -> str:
    lo, hi = metrics.get("test_interval_db") or (None, None)
    return "" if lo is None else f" (90 % interval over another set as large: {lo:.1f} to {hi:.1f} dB)"


def selection_text(metrics: dict) -> str:
    sel = metrics.get("selection") or {}
    return ", ".join(
        f"{k} {v['validation_nmse_db']:.1f} dB" if "validation_nmse_db" in v else f"{k} not fitted"
        for k, v in sel.items()
    )


def write_plots(out: Path, report: dict, ideal, calibrated, truth) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    cal = report["calibration"]
    ys = [cal["metrics"]["initial_heldout_nmse_db"]] + cal["stages"]
    ax.plot(range(len(ys)), ys, "o-", label="initial calibration")
    for i, after in enumerate(report["drift"]["heldout_nmse_db_after"]):
        ax.axhline(after, ls="--", c=f"C{i + 1}", label=f"after drift recalibration {i + 1}")
    ax.set(xlabel="stage (0 = ideal model)", ylabel="held-out prediction NMSE (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)
    plot_magnitude_maps(ideal, calibrated, out / "magnitude_maps.png", truth=truth)
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = [(f"trained on {r['trained_on']}", r) for r in report["trained"]]
    rows += [("after drift", report["drifted"]), ("re-trained", report["restored"])]
    x = np.arange(len(rows))
    for p in range(2):
        ax.bar(x + (p - 0.5) * 0.35, [r["port_power_db"][p] for _, r in rows], 0.35, label=f"receive port {p}")
    for i, (_, r) in enumerate(rows):
        ax.text(i, max(r["port_power_db"]) + 2, f"{r['contrast_db']:.0f} dB", ha="center", fontsize=8)
    ax.set_xticks(x, [n for n, _ in rows], fontsize=8)
    ax.set_ylabel("measured |S|^2 (dB)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out / "ports.png", dpi=110)
    plt.close(fig)
    tl = report["drift"]["timeline"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if tl:
        minutes = [e["clock"] / 60 for e in tl]
        for key, label in (
            ("prediction_residual_db", "prediction residual rise"),
            ("received_power_db", "received power change"),
        ):
            if key in tl[0]:
                ax.plot(minutes, [abs(e[key]) if key == "received_power_db" else e[key] for e in tl], "o-", label=label)
        for mnt, e in zip(minutes, tl):
            if e["crossed"]:
                ax.axvline(mnt, c="r", alpha=0.4)
    for key, ls in (("prediction_residual_db", ":"), ("received_power_db", "-.")):
        th = [e[key + "_threshold"] for e in tl if key + "_threshold" in e]
        if th:
            ax.axhline(th[-1], c="k", ls=ls, label=f"{key.replace('_db', '')} threshold ({th[-1]:.1f} dB)")
    ax.set(
        xlabel="bench time since the drift began (min); red: crossed -> recalibration",
        ylabel="change from the calibrated baseline (dB)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "indicators.png", dpi=110)
    plt.close(fig)


def report_html(report: dict) -> str:
    cal = report["calibration"]["metrics"]
    rows = "".join(
        f"<tr><td>{html.escape(r['trained_on'])}</td><td>{r['predicted_contrast_db']:.1f}</td>"
        f"<td>{r['measured_objective_db']:.1f}</td><td>{r['contrast_db']:.1f}</td></tr>"
        for r in report["trained"]
    )
    d = report["drift"]
    fresh = report["calibration"]["fresh"]
    labels = {
        "calibration_improved": f"calibration improved the held-out prediction NMSE by more than {IMPROVED_BY_DB:.0f} dB",
        "heldout_honest": f"the reported held-out NMSE ({cal['heldout_nmse_db']:.1f} dB) is within "
        f"{HELDOUT_WITHIN_DB:.0f} dB of {fresh['configs']} fresh configurations "
        f"({fresh['nmse_db']:.1f} dB)",
        "prediction_held": f"the calibrated-trained configuration measured within {PREDICTION_WITHIN_DB:.0f} dB "
        "of its prediction (capped contrast and gain)",
        "beats_ideal": f"it beat the ideal-trained one by at least {BEATS_IDEAL_DB:.0f} dB of contrast",
        "recalibration_fired": "a state-driven recalibration fired after drift",
        "held_after_recalibration": "the recalibrated model held once the bench stopped warming up",
        "restored": f"the configuration re-trained on the recalibrated model measured within "
        f"{RESTORED_WITHIN_DB:.0f} dB of its prediction and {BEATS_IDEAL_DB:.0f} dB over ideal-trained",
    }
    margins = report.get("margins", {})
    checks = "".join(
        f"<tr><td>{html.escape(labels[k])}</td><td>{'yes' if v else 'NO'}</td>"
        f"<td>{'' if margins.get(k) is None else f'{margins[k]:.1f} dB'}</td></tr>"
        for k, v in report["checks"].items()
    )
    figures = "".join(
        f"<tr><td>{html.escape(r['figure'])}</td><td>{r['value_db']:.2f} dB</td><td>"
        f"{KINDS[r['kind']]} {r['limit_db']:.2f} dB</td>"
        f"<td>{r['spare_db']:.2f} dB</td></tr>"
        for r in report.get("margin_rows", [])
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>simhw demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}img{{max-width:100%}}</style></head><body>
<h1>simhw demo: the whole loop on the simulated bench</h1>
<p>The <b>{html.escape(report["bench"])}</b> bench: 4-layer 6x6 2-bit SIM at 28 GHz, {report["points"]} frequencies,
fabrication errors {report["error_scale"]:g}x the paper's bounds; {report["seconds"]:.0f} s
{"(quick)" if report["quick"] else ""}.</p>
<h2>Checks</h2><table><tr><th>check</th><th>passed</th><th>margin</th></tr>
{checks}</table>
<p>Each figure a check compares, with its margin (dB to spare): how far past the threshold a figure
that must reach one is, and how far below its limit a figure that must stay within or under one is.</p>
<table><tr><th>figure</th><th>value</th><th>must be</th><th>margin</th></tr>
{figures}</table>
<h2>Calibration</h2>
<p>Held-out prediction NMSE: {cal["initial_heldout_nmse_db"]:.1f} dB with the ideal model,
{cal.get("heldout_before_residual_db", cal["heldout_nmse_db"]):.1f} dB after the stages,
{cal["heldout_nmse_db"]:.1f} dB calibrated (residual stage {html.escape(str(cal.get("residual_stage", "off")))};
per configuration: median {cal["heldout_median_db"]:.1f} dB, spread {cal["heldout_spread_db"]:.1f} dB, worst
{cal["heldout_worst_db"]:.1f} dB). On {fresh["configs"]} fresh configurations measured afterwards: {fresh["nmse_db"]:.1f} dB.
Training caps the contrast at {report["cap_db"]:.1f} dB, the depth this model can still predict.</p><img src="calibration.png"><img src="magnitude_maps.png">
<h2>Trained configurations, measured on the bench</h2>
<p>The objective is the contrast capped softly at the depth each model can predict; the raw contrast is
the focused port's power over the nulled one's, as measured.</p>
<table><tr><th>trained on</th><th>predicted objective (dB)</th><th>measured objective (dB)</th>
<th>measured raw contrast (dB)</th></tr>{rows}
<tr><td>calibrated, after drift</td><td></td><td></td><td>{report["drifted"]["contrast_db"]:.1f}</td></tr>
<tr><td>re-trained after recalibration</td><td>{report["restored"]["predicted_contrast_db"]:.1f}</td>
<td>{report["restored"]["measured_objective_db"]:.1f}</td><td>{report["restored"]["contrast_db"]:.1f}</td></tr>
</table><img src="ports.png">
<h2>Drift and state-driven recalibration</h2>
<p>Temperature ramp {d["rate_k_per_hour"]:.1f} K/h until the first recalibration, then steady;
checks every 30 min of bench time;
{d["recalibrations"]} recalibration(s), first after {0 if d["fired_after_s"] is None else d["fired_after_s"] / 60:.0f} min
(reason: {html.escape("; ".join(d["reasons"][:1]))}); held-out NMSE after:
{", ".join(f"{v:.1f} dB" for v in d["heldout_nmse_db_after"] if v is not None)}.</p><img src="indicators.png">
</body></html>
"""
