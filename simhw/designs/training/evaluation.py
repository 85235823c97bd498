"""Monte Carlo evaluation of trained configurations ([1] Learnable SIM, sec. IV-B; [5] ISAC with SIM, sec. IV).

:func:`ser_and_rate` sends QPSK data through the SIM (with the jammer present if given), adds
receiver noise for each SNR, detects each user's symbol at its antenna by quadrant and returns the
symbol error rate and the sum rate. The SNR is the mean received signal power per selected antenna
(users only, no jammer) over the noise power. Everything is seeded.
"""

from __future__ import annotations

import numpy as np

from simhw.designs.training.channels import qpsk, qpsk_demodulate, reactive_jammer
from simhw.designs.training.objectives import MultiUserSeparation

__all__ = ["ser_and_rate"]


def ser_and_rate(
    objective: MultiUserSeparation,
    theta,
    snrs_db,
    symbols: int = 4096,
    jammer_channel=None,
    amplitude=None,
    seed: int = 0,
) -> dict:
    """SER and sum rate (bit/s/Hz) vs SNR for one configuration; ``jammer_channel`` (N,) adds the
    reactive jammer (AWGN variance 0.5, random power) to the data."""
    rng = np.random.default_rng(seed)
    theta = np.asarray(theta, float)
    amp = None if amplitude is None else np.asarray(amplitude)[None]
    g = objective.model.response(theta[None], amp)[0, 0, objective.antennas]  # (K, N)
    a = g @ objective.channels  # (K, K)
    d = qpsk(symbols, objective.k, seed=rng)  # (S, K)
    clean = d @ a.T  # (S, K)
    jam_power = np.zeros(objective.k)
    interference = np.zeros_like(clean)
    if jammer_channel is not None:
        j = reactive_jammer(symbols, seed=rng)
        gj = g @ np.asarray(jammer_channel, complex)
        interference = j[:, None] * gj[None, :]
        jam_power = 0.5 * np.abs(gj) ** 2  # E|j|^2 = 0.5 x mean power gain 1
    signal_power = np.mean(np.abs(clean) ** 2)
    noise = (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)) / np.sqrt(2)
    sig = np.abs(np.diag(a)) ** 2
    mui = np.sum(np.abs(a) ** 2, axis=1) - sig
    ser, rate = [], []
    for snr in np.atleast_1d(snrs_db):
        sigma2 = signal_power / 10 ** (snr / 10)
        y = clean + interference + np.sqrt(sigma2) * noise
        ser.append(float(np.mean(np.abs(qpsk_demodulate(y) - d) > 1e-6)))
        rate.append(float(np.sum(np.log2(1 + sig / (mui + jam_power + sigma2)))))
    return {"snr_db": [float(s) for s in np.atleast_1d(snrs_db)], "ser": ser, "sum_rate": rate}
