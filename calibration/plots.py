"""Calibration plots: NMSE per stage (and per layer when the truth is known), and magnitude maps.

The magnitude maps follow [3] Interlayer error calibration Fig. 5: |W| of the ideal, true and calibrated interlayer
matrix side by side, with the magnitude of the calibration error. Files are written with the
non-interactive Agg backend, so plotting works on a headless bench computer.
"""

from __future__ import annotations

import os

import numpy as np

from calibration.calibration_run import CalibrationRun
from simhw.physics.propagation import Cascade

__all__ = ["plot_stages", "plot_magnitude_maps"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_stages(run: CalibrationRun, path: str | os.PathLike) -> str:
    """NMSE against stage: held-out prediction and fit; per-layer and test-channel NMSE if known."""
    plt = _pyplot()
    stages = np.arange(len(run.stages) + 1)
    truth = all(s.truth for s in run.stages) and run.initial_truth
    fig, axes = plt.subplots(1, 2 if truth else 1, figsize=(11 if truth else 6, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(stages, [run.initial_heldout_nmse_db] + [s.heldout_nmse_db for s in run.stages], "o-", label="held-out")
    ax.plot(stages[1:], [s.fit_nmse_db for s in run.stages], "s--", label="fitted pilots")
    ax.set(
        xlabel="stage (0 = starting model)",
        ylabel="end-to-end NMSE (dB)",
        title=f"{run.protocol}: {run.parameterization} / {run.estimator}",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    if truth:
        ax = axes[0, 1]
        rows = [run.initial_truth] + [s.truth for s in run.stages]
        for l in range(len(rows[0]["layers"])):
            ax.plot(stages, [r["layers"][l] for r in rows], "o-", label=f"W {l + 1}->{l + 2}")
        ax.plot(stages, [r["output"] for r in rows], "^-", label="W last->rx")
        ax.plot(stages, [r["channel"] for r in rows], "k*-", label="test channel")
        ax.set(xlabel="stage", ylabel="NMSE vs truth (dB)", title="per matrix (truth known)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


def plot_magnitude_maps(
    ideal: Cascade,
    calibrated: Cascade,
    path: str | os.PathLike,
    layer: int = 0,
    truth: Cascade | None = None,
    frequency: int = 0,
) -> str:
    """|W| maps of interlayer matrix ``layer`` (0 = layer 1 -> 2) like [3] Interlayer error calibration Fig. 5."""
    if not 0 <= layer < ideal.w_layers.shape[0]:
        raise ValueError(f"layer must be in [0, {ideal.w_layers.shape[0]}), got {layer}")
    plt = _pyplot()

    def pick(c):
        return np.abs(c.w_layers[layer, frequency])

    panels = [("ideal", pick(ideal))]
    if truth is not None:
        panels.append(("true", pick(truth)))
    panels.append(("calibrated", pick(calibrated)))
    ref = truth if truth is not None else ideal
    panels.append(
        (
            f"|calibrated - {'true' if truth is not None else 'ideal'}|",
            np.abs(calibrated.w_layers[layer, frequency] - ref.w_layers[layer, frequency]),
        )
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4))
    vmax = max(p[1].max() for p in panels[:-1])
    for ax, (name, img) in zip(axes, panels):
        im = ax.imshow(img, cmap="viridis", vmin=0, vmax=vmax if not name.startswith("|") else None)
        ax.set(title=name, xlabel=f"atom of layer {layer + 1}", ylabel=f"atom of layer {layer + 2}")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"|W| layer {layer + 1} -> {layer + 2} at {ideal.frequencies[frequency] / 1e9:.3f} GHz")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)
