"""Channels and signals the trainers use: user channels, pilots, jammers (docs/physics.md, sec. 4).

* :func:`correlated_rician` - [1] Learnable SIM (sec. III-B): the SIM-user channels of the uplink follow a
  correlated three-dimensional Rician model: a line-of-sight plane wave from the user's direction
  plus a diffuse part with the isotropic 3-D correlation R[n, n'] = sinc(2 |p_n - p_n'| / lambda)
  between the first layer's atoms.
* :func:`saleh_valenzuela` - [5] ISAC with SIM (sec. II): multipath user channels on the last layer, one
  LoS path and NLoS paths with a random angular spread around it, each a planar steering vector.
* :func:`steering` - the planar-array steering vector a(theta, phi) of a layer's atoms, with
  theta measured from the layer normal (z) and phi the azimuth in the layer plane.
* :func:`qpsk`, :func:`reactive_jammer` - pilot symbols and [1] Learnable SIM's jammer (sec. IV-B: AWGN of
  variance 0.5 amplified with a random time-varying power).
"""

from __future__ import annotations

import numpy as np

from simhw.physics.geometry import SPEED_OF_LIGHT

__all__ = [
    "steering",
    "correlated_rician",
    "saleh_valenzuela",
    "qpsk",
    "qpsk_demodulate",
    "reactive_jammer",
    "user_directions",
]


def steering(positions: np.ndarray, wavelength: float, theta, phi) -> np.ndarray:
    """(..., N) far-field response of atoms at ``positions`` (N, 2 or 3) toward (theta, phi) rad.

    Phase k (x sin(theta) cos(phi) + y sin(theta) sin(phi)): a wave leaving the layer toward that
    direction (or arriving from it, conjugated by the caller where needed).
    """
    theta, phi = np.asarray(theta, float), np.asarray(phi, float)
    k = 2 * np.pi / wavelength
    ux = np.sin(theta) * np.cos(phi)
    uy = np.sin(theta) * np.sin(phi)
    return np.exp(1j * k * (ux[..., None] * positions[:, 0] + uy[..., None] * positions[:, 1]))


def user_directions(
    k: int, rng: np.random.Generator, theta_max: float = np.deg2rad(50)
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` random user directions (theta, phi), at least 15 degrees apart in direction cosines."""
    thetas, phis = [], []
    for _ in range(10_000):
        th, ph = rng.uniform(np.deg2rad(10), theta_max), rng.uniform(-np.pi, np.pi)
        u = np.array([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph)])
        if all(
            np.linalg.norm(u - np.array([np.sin(a) * np.cos(b), np.sin(a) * np.sin(b)])) > 0.25
            for a, b in zip(thetas, phis)
        ):
            thetas.append(th)
            phis.append(ph)
            if len(thetas) == k:
                return np.array(thetas), np.array(phis)
    raise ValueError(f"could not place {k} users 15 degrees apart; ask for fewer users")


def correlated_rician(
    positions: np.ndarray,
    frequency: float,
    k: int,
    rician_k: float = 3.0,
    seed: int | np.random.Generator | None = None,
    theta=None,
    phi=None,
    distance_scale=None,
) -> np.ndarray:
    """(N, K) uplink channels from ``k`` single-antenna users to the first layer's atoms ([1] Learnable SIM).

    h_k = s_k [sqrt(K/(K+1)) a(theta_k, phi_k) + sqrt(1/(K+1)) R^(1/2) g_k], g_k ~ CN(0, I), with
    ``distance_scale`` s_k (1 by default: the normalised loss of [1] Learnable SIM removes path loss; its
    robustness test scales user distances by 0.5..1.5, i.e. amplitudes by 1/s).
    """
    rng = np.random.default_rng(seed)
    lam = SPEED_OF_LIGHT / frequency
    if theta is None or phi is None:
        theta, phi = user_directions(k, rng)
    n = positions.shape[0]
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    r = np.sinc(2 * d / lam)
    w, v = np.linalg.eigh(r)
    r_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.conj().T
    los = np.conj(steering(positions, lam, theta, phi)).T  # (N, K): a plane wave arriving from (theta, phi)
    g = (rng.standard_normal((n, k)) + 1j * rng.standard_normal((n, k))) / np.sqrt(2)
    h = np.sqrt(rician_k / (rician_k + 1)) * los + np.sqrt(1 / (rician_k + 1)) * (r_half @ g)
    if distance_scale is not None:
        h = h / np.asarray(distance_scale, float)[None, :]
    return h


def saleh_valenzuela(
    positions: np.ndarray,
    frequency: float,
    k: int,
    paths: int = 4,
    nlos_db: float = -10.0,
    spread: float = np.deg2rad(10),
    seed: int | np.random.Generator | None = None,
    theta=None,
    phi=None,
) -> np.ndarray:
    """(N, K) downlink channels from the last layer's atoms to ``k`` users ([5] ISAC with SIM, eq. (4)).

    One LoS path with gain CN(0, 1) and ``paths - 1`` NLoS paths with gain CN(0, 10^(nlos_db/10))
    at angles spread uniformly by +-``spread`` around the LoS direction; h_k = sum_p alpha_p a_p.
    """
    rng = np.random.default_rng(seed)
    lam = SPEED_OF_LIGHT / frequency
    if theta is None or phi is None:
        theta, phi = user_directions(k, rng)
    theta, phi = np.asarray(theta, float), np.asarray(phi, float)
    h = np.zeros((positions.shape[0], k), complex)
    for p in range(paths):
        var = 1.0 if p == 0 else 10 ** (nlos_db / 10)
        alpha = np.sqrt(var / 2) * (rng.standard_normal(k) + 1j * rng.standard_normal(k))
        th = theta if p == 0 else np.clip(theta + rng.uniform(-spread, spread, k), 0, np.pi / 2)
        ph = phi if p == 0 else phi + rng.uniform(-spread, spread, k)
        h += alpha[None, :] * steering(positions, lam, th, ph).T
    return h


def qpsk(count: int, k: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """(count, k) unit-modulus QPSK symbols exp(1j (pi/4 + m pi/2))."""
    rng = np.random.default_rng(seed)
    return np.exp(1j * (np.pi / 4 + np.pi / 2 * rng.integers(0, 4, (count, k))))


def qpsk_demodulate(y: np.ndarray) -> np.ndarray:
    """Nearest QPSK symbol by quadrant (amplitude does not matter)."""
    return np.exp(1j * (np.pi / 4 + np.pi / 2 * np.floor(np.mod(np.angle(y), 2 * np.pi) / (np.pi / 2))))


def reactive_jammer(
    count: int, variance: float = 0.5, power_range=(0.0, 2.0), seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """(count,) jamming samples: CN(0, ``variance``) AWGN times a random time-varying amplitude.

    Seed 000 (sec. IV-B) gives the variance (0.5) and says the power varies randomly in time; the
    per-slot power gain here is drawn U(``power_range``).
    """
    rng = np.random.default_rng(seed)
    noise = np.sqrt(variance / 2) * (rng.standard_normal(count) + 1j * rng.standard_normal(count))
    return noise * np.sqrt(rng.uniform(*power_range, count))
