"""A calibration's report page: its figures and the held-out NMSE per stage as an inline SVG."""

from __future__ import annotations

import html
import json

__all__ = ["calibration_report", "svg_curve"]


def svg_curve(xs, ys, width: int = 480, height: int = 220, label: str = "") -> str:
    """A line plot as SVG (no scripts, no external assets)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if not pts:
        return "<p>no stages</p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    m = 40

    def px(x, y):
        return m + (x - x0) / (x1 - x0) * (width - 2 * m), height - m - (y - y0) / (y1 - y0) * (height - 2 * m)

    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in pts))
    dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3"/>' for a, b in (px(x, y) for x, y in pts))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f'<rect width="100%" height="100%" fill="#fff" stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/><g fill="#1f77b4">{dots}</g>'
        f'<text x="{m}" y="16" font-size="12">{html.escape(label)}</text>'
        f'<text x="4" y="{m}" font-size="11">{y1:.1f}</text><text x="4" y="{height - m}" font-size="11">{y0:.1f}</text>'
        f'<text x="{width - m}" y="{height - 8}" font-size="11">stage {x1:g}</text></svg>'
    )


def calibration_report(rec: dict) -> str:
    stages = rec.get("stages") or []
    metrics = rec.get("metrics") or {}
    rows = "".join(
        f"<tr><td>{s['stage']}</td><td>{s['slots']}</td><td>{s['fit_nmse_db']:.2f}</td>"
        f"<td>{s['heldout_nmse_db']:.2f}</td><td>{s['seconds']:.2f}</td></tr>"
        for s in stages
    )
    scalars = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(metrics.items())
        if not isinstance(v, (dict, list))
    )
    curve = svg_curve(
        [0] + [s["stage"] for s in stages],
        [metrics.get("initial_heldout_nmse_db")] + [s["heldout_nmse_db"] for s in stages],
        label="held-out NMSE (dB) per stage (0: the starting model)",
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>calibration {rec["id"]}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}td,th{{padding:.15em .7em;text-align:left}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>Calibration {rec["id"]}</h1>
<p>{html.escape(rec["protocol"])}, {html.escape(str(rec.get("reason") or ""))}: <b>{html.escape(rec["status"])}</b></p>
{curve}
<h2>Stages</h2><table><tr><th>stage</th><th>slots</th><th>fit dB</th><th>held-out dB</th><th>s</th></tr>{rows}</table>
<h2>Figures</h2><table>{scalars}</table>
<details><summary>all metrics (JSON)</summary><pre>{html.escape(json.dumps(metrics, indent=1, default=str))}</pre></details>
</body></html>"""
