"""Randomised space-time SIM downlink with partial CSIT ([2] Randomized space-time SIM, sec. IV-V and VI-B).

Per coherence interval the space-only block G is fixed (synthesised toward a Haar target); in
every one of its T slots the input DAL draws new uniform phases Phi_1(t), giving M random beams
p_m(t) = columns of P(t) = c G Phi_1(t) W_0 (W_0: UPA -> input DAL; c normalises the
time-averaged radiated power to P_T). Every user measures the SINR of each beam with all M streams
on (power P_T/M each) and feeds back its best beam index and that SINR; per beam the BS serves the
reporter with the largest SINR (a beam nobody reports stays off). Rates log2(1 + SINR) are
averaged over the T slots (time-averaged sum rate) and scaled by the fraction of symbols left after
training and feedback (effective sum rate). Jain's index of the users' time-averaged rates
measures fairness.

The full-CSIT digital benchmark has Q antennas (as many as the terminal DAL transmits), every user
feeds back its Q-dimensional channel, the M users with the strongest channels are served with
zero-forcing on normalised channel directions, power P_T/M each.

Overhead (the paper's eqs. (62)-(63) were lost; these follow its Remarks 2-3): per coherence
interval of ``n_c`` symbols, the ST-SIM spends M training symbols and K feedback reports of
``report_symbols`` each per slot; the benchmark spends Q training symbols and K x Q feedback
symbols (one complex coefficient per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhw.designs.spacetime.synthesis import SOnlyBlock, grid
from simhw.physics.geometry import SPEED_OF_LIGHT
from simhw.physics.propagation import rayleigh_sommerfeld

__all__ = ["Downlink", "STDownlink", "jain", "mimo_benchmark", "simulate_st"]


def jain(rates: np.ndarray) -> float:
    """Jain's fairness index (sum r)^2 / (K sum r^2): 1 when equal, 1/K when one user gets all."""
    r = np.asarray(rates, float)
    s2 = np.sum(r**2)
    return float(np.sum(r) ** 2 / (r.size * s2)) if s2 > 0 else 0.0


@dataclass
class Downlink:
    """Users and link budget ([2] Randomized space-time SIM, sec. VI-B; values the paper lost are stated here)."""

    frequency: float = 28e9
    power_dbm: float = 30.0
    noise_dbm_hz: float = -174.0
    bandwidth: float = 1e6
    bs_height: float = 10.0
    r_in: float = 20.0
    r_out: float = 100.0
    pathloss_exp: float = 3.0
    n_c: int = 20_000  # symbols per coherence interval (T_c = 20 ms at 1 Msymbol/s)
    report_symbols: float = 1.0  # uplink symbols per (beam index, SINR) report

    @property
    def noise(self) -> float:
        return 10 ** ((self.noise_dbm_hz + 10 * np.log10(self.bandwidth) - 30) / 10)

    @property
    def power(self) -> float:
        return 10 ** ((self.power_dbm - 30) / 10)

    def channels(self, k: int, q: int, rng) -> np.ndarray:
        """(K, Q) Rayleigh channels with variance beta(d) = (lambda / 4 pi)^2 d^-alpha."""
        r = np.sqrt(rng.uniform(self.r_in**2, self.r_out**2, k))
        d = np.hypot(r, self.bs_height)
        lam = SPEED_OF_LIGHT / self.frequency
        beta = (lam / (4 * np.pi)) ** 2 * d ** (-self.pathloss_exp)
        g = (rng.standard_normal((k, q)) + 1j * rng.standard_normal((k, q))) / np.sqrt(2)
        return np.sqrt(beta)[:, None] * g


class STDownlink:
    """The transmitter: UPA -> input DAL (random phases per slot) -> synthesised space-only block."""

    def __init__(self, block: SOnlyBlock, d: list, m_side: int, frequency: float = 28e9, distance: float | None = None):
        lam = SPEED_OF_LIGHT / frequency
        pitch = lam / 2
        z = -(lam / 2 if distance is None else distance)
        self.w0 = rayleigh_sommerfeld(grid(m_side, pitch, z), grid(m_side, pitch, 0.0), np.array([lam]), pitch * pitch)[
            0
        ]  # (M, M)
        self.g = block.response(d)  # (Q, M)
        self.m, self.q = self.g.shape[1], self.g.shape[0]
        # E over uniform phases of ||G Phi W0||_F^2 = sum_n ||G[:, n]||^2 ||W0[n, :]||^2
        mean_power = float(np.sum(np.sum(np.abs(self.g) ** 2, axis=0) * np.sum(np.abs(self.w0) ** 2, axis=1)))
        self.scale = np.sqrt(self.m / mean_power)

    def beams(self, phases: np.ndarray) -> np.ndarray:
        """(T, Q, M) beam matrices for input-DAL phases (T, M)."""
        return self.scale * np.einsum("qn,tn,nm->tqm", self.g, np.exp(1j * phases), self.w0)


def simulate_st(tx: STDownlink, link: Downlink, k: int, slots: int, intervals: int = 20, seed=0) -> dict:
    """Monte Carlo over coherence intervals: time-averaged and effective sum rate, fairness,
    distinct users served per interval."""
    rng = np.random.default_rng(seed)
    p = link.power / tx.m
    ta, fair, served = [], [], []
    for _ in range(intervals):
        h = link.channels(k, tx.q, rng)
        beams = tx.beams(rng.uniform(0, 2 * np.pi, (slots, tx.m)))
        e = p * np.abs(np.einsum("kq,tqm->tkm", np.conj(h), beams)) ** 2  # (T, K, M) received power per beam
        sinr = e / (np.sum(e, axis=2, keepdims=True) - e + link.noise)
        best = np.argmax(sinr, axis=2)  # (T, K) reported beam
        best_sinr = np.take_along_axis(sinr, best[..., None], axis=2)[..., 0]
        user_rate = np.zeros(k)
        slot_rates = np.zeros(slots)
        users = set()
        for t in range(slots):
            for m in range(tx.m):
                reporters = np.nonzero(best[t] == m)[0]
                if reporters.size == 0:
                    continue
                u = reporters[np.argmax(best_sinr[t, reporters])]
                r = np.log2(1 + best_sinr[t, u])
                user_rate[u] += r / slots
                slot_rates[t] += r
                users.add(int(u))
        ta.append(slot_rates.mean())
        fair.append(jain(user_rate))
        served.append(len(users))
    eta = max(0.0, 1.0 - slots * (tx.m + k * link.report_symbols) / link.n_c)
    return {
        "users": k,
        "slots": slots,
        "ta_sum_rate": float(np.mean(ta)),
        "overhead_factor": eta,
        "effective_sum_rate": float(eta * np.mean(ta)),
        "fairness": float(np.mean(fair)),
        "distinct_served": float(np.mean(served)),
    }


def mimo_benchmark(q: int, m: int, link: Downlink, k: int, intervals: int = 20, seed=0) -> dict:
    """Full-CSIT fully digital MIMO with Q antennas serving the M strongest users by zero-forcing."""
    rng = np.random.default_rng(seed)
    p = link.power / m
    rates, fair = [], []
    for _ in range(intervals):
        h = link.channels(k, q, rng)
        sel = np.argsort(-np.linalg.norm(h, axis=1))[: min(m, k)]
        hs = h[sel]  # (M, Q)
        w = np.linalg.pinv(hs.conj())  # (Q, M): conj(hs) @ w = I, user k sees h_k^H w
        w = w / np.linalg.norm(w, axis=0, keepdims=True)
        gains = p * np.abs(hs.conj() @ w) ** 2  # (M, M)
        sig = np.diag(gains)
        sinr = sig / (np.sum(gains, axis=1) - sig + link.noise)
        r = np.log2(1 + sinr)
        rates.append(np.sum(r))
        user_rate = np.zeros(k)
        user_rate[sel] = r
        fair.append(jain(user_rate))
    eta = max(0.0, 1.0 - (q + k * q) / link.n_c)
    return {
        "users": k,
        "ta_sum_rate": float(np.mean(rates)),
        "overhead_factor": eta,
        "effective_sum_rate": float(eta * np.mean(rates)),
        "fairness": float(np.mean(fair)),
        "distinct_served": float(min(m, k)),
    }
