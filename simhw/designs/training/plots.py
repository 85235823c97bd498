"""Plots of training results: constellations, loss curves, beam patterns, SER curves, the HIL check.

Each function writes one PNG and returns its path (matplotlib's Agg backend, no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_constellation", "plot_losses", "plot_beam_pattern", "plot_ser", "plot_tradeoff", "plot_hil"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_constellation(received: dict, path, title: str = "received symbols (normalised)") -> Path:
    """``received``: {label: (K, U) complex normalised symbols}; one panel per label, ideal QPSK marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(received), figsize=(4 * len(received), 4), squeeze=False)
    ideal = np.exp(1j * (np.pi / 4 + np.pi / 2 * np.arange(4)))
    for ax, (label, y) in zip(axes[0], received.items()):
        ax.scatter(ideal.real, ideal.imag, marker="o", facecolors="none", edgecolors="k", s=160, label="QPSK")
        for k, row in enumerate(np.atleast_2d(y)):
            ax.scatter(row.real, row.imag, s=6, alpha=0.6, label=f"user {k + 1}")
        ax.set_aspect("equal")
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    return _save(fig, path)


def plot_losses(histories: dict, path, ylabel: str = "loss", log: bool = True) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, h in histories.items():
        ax.plot(np.arange(1, len(h) + 1), h, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("episode")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_beam_pattern(
    pattern: np.ndarray,
    grid_shape: tuple,
    theta: np.ndarray,
    phi: np.ndarray,
    path,
    targets=(),
    users=(),
    title: str = "normalised beam pattern",
) -> Path:
    """Pattern on the (theta, phi) grid; targets (+) and users (o) marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    p = np.asarray(pattern).reshape(grid_shape)
    th = np.rad2deg(theta.reshape(grid_shape)[:, 0])
    ph = np.rad2deg(phi.reshape(grid_shape)[0])
    im = ax.pcolormesh(ph, th, 10 * np.log10(np.maximum(p, 1e-4)), shading="nearest", vmin=-30, vmax=0)
    fig.colorbar(im, ax=ax, label="dB")
    for t, f in targets:
        ax.plot(np.rad2deg(f), np.rad2deg(t), "w+", ms=14, mew=2)
    for t, f in users:
        ax.plot(np.rad2deg(f), np.rad2deg(t), "ro", mfc="none", ms=8)
    ax.set_xlabel("azimuth phi (deg)")
    ax.set_ylabel("elevation theta (deg)")
    ax.set_title(title)
    return _save(fig, path)


def plot_ser(curves: dict, path, title: str = "SER vs SNR") -> Path:
    """``curves``: {label: {"snr_db": [...], "ser": [...]}}; zeros are drawn at the plot's floor."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = 1e-5
    for label, c in curves.items():
        ax.semilogy(c["snr_db"], np.maximum(c["ser"], floor), marker="o", label=label)
    ax.set_ylim(floor, 1)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("symbol error rate")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_tradeoff(weights, rates, mses_db, path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(weights, rates, "o-", c="C0")
    ax.set_xlabel("sensing weight w_s (w_c = 1 - w_s)")
    ax.set_ylabel("sum rate (bit/s/Hz)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(weights, mses_db, "s--", c="C1")
    ax2.set_ylabel("beam-matching MSE (dB)", color="C1")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_hil(report, path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    names = [r["model"] for r in report.rows]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [r["predicted_db"] for r in report.rows], 0.4, label="predicted by its model")
    ax.bar(x + 0.2, [r["measured_db"] for r in report.rows], 0.4, label="measured on the bench")
    ax.set_xticks(x, [f"trained on\n{n}" for n in names])
    ax.set_ylabel("objective (dB)")
    ax.set_title(f"focus on port {report.port}, {report.band_text}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
