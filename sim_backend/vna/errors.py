"""A VNA's own errors on the traces it reports: the uncorrected ones (no cal set on) and what a
calibration leaves (residual directivity, source and load match, tracking)."""

from __future__ import annotations

import numpy as np

__all__ = ["raw_errors", "residual_errors"]


def raw_errors(s: np.ndarray, freqs: np.ndarray, magnitude: float) -> np.ndarray:
    """Uncorrected data: the instrument's directivity and tracking per port (deterministic)."""
    n = s.shape[1]
    k = np.arange(1, n + 1)
    e = magnitude * np.exp(2j * np.pi * np.outer(freqs, 0.37e-9 * k))  # (F, n)
    track = (1 + e)[:, :, None] * (1 + np.conj(e))[:, None, :]
    out = s * track
    idx = np.arange(n)
    out[:, idx, idx] += 0.3 * e
    return out


def residual_errors(s: np.ndarray, freqs: np.ndarray, residuals: tuple[float, float, float], seed: int) -> np.ndarray:
    """The residual two-port error model after calibration (Keysight AN 1287-3, "Applying Error
    Correction to Network Analyzer Measurements"): S_ij,m = t S_ij / (1 - e_s S_jj - e_l S_ii
    + e_s e_l (S_ii S_jj - S_ij S_ji)) for i != j, S_ii,m = e_d + t_r S_ii / (1 - e_s S_ii).
    ``residuals`` = (|e_d|, |e_s| = |e_l|, tracking in dB); each term turns slowly with frequency,
    seeded per port. Typical after a mechanical-kit calibration of a PNA: -40 dB directivity,
    -35 dB match, +-0.05 dB tracking (Keysight N5227B data sheet, corrected performance)."""
    d, m, t_db = residuals
    n = s.shape[1]
    rng = np.random.default_rng([seed, n])
    phase = rng.uniform(0, 2 * np.pi, (4, n))
    tau = rng.uniform(0.2e-9, 2e-9, (4, n))
    turn = np.exp(1j * (phase[:, None, :] + 2 * np.pi * freqs[None, :, None] * tau[:, None, :]))  # (4, F, n)
    e_d, e_s = d * turn[0], m * turn[1]
    track = 10 ** (t_db * np.cos(np.angle(turn[2])) / 20) * np.exp(1j * np.radians(t_db) * np.sin(np.angle(turn[3])))
    out = np.empty_like(s)
    diag = np.einsum("fii->fi", s)
    for i in range(n):
        out[:, i, i] = e_d[:, i] + track[:, i] * s[:, i, i] / (1 - e_s[:, i] * s[:, i, i])
        for j in range(n):
            if i != j:
                det = diag[:, i] * diag[:, j] - s[:, i, j] * s[:, j, i]
                den = 1 - e_s[:, j] * diag[:, j] - e_s[:, i] * diag[:, i] + e_s[:, j] * e_s[:, i] * det
                out[:, i, j] = np.sqrt(track[:, i] * track[:, j]) * s[:, i, j] / den
    return out
