"""Ready-made training scenarios: the papers' set-ups and the bench's everyday one.

* :func:`separation_scenario` - [1] Learnable SIM (sec. III-B): an L-layer SIM at the BS, Nx x Ny atoms at
  lambda/2, thickness T_SIM = 10 lambda (d_L = T_SIM/(L-1)), an M-antenna lambda/2 ULA behind the
  last layer (K of them selected, one per user), correlated Rician user channels, QPSK pilots,
  optionally a reactive jammer among the users. The carrier is not given in the paper; 28 GHz here.
* :func:`isac_scenario` - [5] ISAC with SIM (sec. IV): a downlink SIM fed by an M = K + T element ULA,
  Saleh-Valenzuela user channels from the last layer, a (theta, phi) grid and a desired pattern
  with T target regions. The paper's table values were lost; the choices here are documented on
  the function.
* :func:`bench_focus` - the bench's end-to-end model (feed to receive ports) with a
  :class:`~simhw.designs.training.focus.Focus` objective on one receive port.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simhw.designs.training.channels import (
    correlated_rician,
    qpsk,
    reactive_jammer,
    saleh_valenzuela,
    steering,
    user_directions,
)
from simhw.designs.training.focus import Focus
from simhw.designs.training.objectives import ISACBeamforming, MultiUserSeparation, TrainingError
from simhw.physics.geometry import SPEED_OF_LIGHT, AntennaArray, SimGeometry
from simhw.physics.impairments import Impairments
from simhw.physics.model import SIMModel

__all__ = [
    "separation_scenario",
    "isac_scenario",
    "bench_focus",
    "focus_point_model",
    "SeparationScenario",
    "ISACScenario",
    "select_antennas",
]


def select_antennas(m: int, k: int) -> np.ndarray:
    """``k`` of ``m`` ULA antennas, spread evenly (one per user)."""
    if k > m:
        raise TrainingError(f"{k} users need {k} BS antennas; the array has {m}")
    return np.unique(np.round(np.linspace(0, m - 1, k)).astype(int)) if k > 1 else np.array([0])


@dataclass
class SeparationScenario:
    objective: MultiUserSeparation
    geometry: SimGeometry
    channels: np.ndarray
    jammer_channel: np.ndarray | None


def separation_scenario(
    n_side: int = 8,
    layers: int = 5,
    users: int = 4,
    bs_antennas: int | None = None,
    frequency: float = 28e9,
    pilots: int = 64,
    seed: int = 0,
    jamming_aware: bool = False,
    with_jammer_channel: bool = False,
    impairments: Impairments | None = None,
    distance_scale=None,
) -> SeparationScenario:
    """Seed 000's uplink: K users -> SIM -> K selected antennas of an M-antenna ULA (M = 2K default).

    ``jamming_aware``: the pilots carry the jammer's signal (its channel is drawn either way when
    ``with_jammer_channel``, so jamming-agnostic and -aware training share channels).
    """
    m = 2 * users if bs_antennas is None else bs_antennas
    if users > m:
        raise TrainingError(f"{users} users need at least {users} BS antennas, got {m}")
    lam = SPEED_OF_LIGHT / frequency
    thickness = 10 * lam
    d = thickness / (layers - 1) if layers > 1 else thickness
    area = (lam / 2) ** 2
    z_last = d * layers
    out = AntennaArray.linear(m, lam / 2, z_last + d, area)
    geom = SimGeometry.uniform(
        layers,
        n_side,
        n_side,
        frequency,
        thickness,
        output_antennas=out,
        input_antennas=AntennaArray.point((0.0, 0.0, 0.0), area),
        input_distance=d,
        output_distance=d,
    )
    model = SIMModel.from_geometry(geom, impairments=impairments, convention="uplink", seed=seed)
    rng = np.random.default_rng(seed)
    pos = geom.atom_positions()[0]
    n_dirs = users + (1 if (jamming_aware or with_jammer_channel) else 0)
    theta, phi = user_directions(n_dirs, rng)
    h = correlated_rician(
        pos, frequency, users, seed=rng, theta=theta[:users], phi=phi[:users], distance_scale=distance_scale
    )
    h_j = None
    if jamming_aware or with_jammer_channel:
        h_j = correlated_rician(pos, frequency, 1, seed=rng, theta=theta[users:], phi=phi[users:])[:, 0]
    s = qpsk(pilots, users, seed=rng)
    jammer = (h_j, reactive_jammer(pilots, seed=rng)) if jamming_aware else None
    obj = MultiUserSeparation(model, h, select_antennas(m, users), s, jammer=jammer)
    return SeparationScenario(obj, geom, h, h_j)


@dataclass
class ISACScenario:
    objective: ISACBeamforming
    geometry: SimGeometry
    grid: tuple  # (theta (Q,), phi (Q,)) rad
    grid_shape: tuple
    targets: list  # [(theta, phi)] centres of the desired regions, rad
    user_angles: tuple


#: the targets of the ISAC scenario: (theta, phi) pairs in radians (polar and azimuth angles)
ISAC_TARGET_ANGLES = ((np.deg2rad(30), np.deg2rad(-45)), (np.deg2rad(30), np.deg2rad(90)))


def isac_scenario(
    n_side: int = 10,
    layers: int = 4,
    users: int = 4,
    targets: int = 2,
    frequency: float = 28e9,
    snr_db: float = 10.0,
    weights=(0.5, 0.5),
    seed: int = 0,
    target_angles=ISAC_TARGET_ANGLES,
) -> ISACScenario:
    """Seed 004's ISAC downlink with documented stand-ins for the lost table values.

    SIM: ``layers`` x (n_side x n_side) atoms at lambda/2, thickness 5 lambda; M = K + T feed
    antennas (lambda/2 ULA) at d_L before layer 1. Users: Saleh-Valenzuela, 4 paths, NLoS -10 dB,
    +-10 degree spread. Grid: theta 0..60 degrees step 3, phi -180..170 step 10; the desired pattern
    is 1 within +-6 degrees (theta) and +-15 degrees (phi) of each target, else 0. Power and noise:
    the noise is set so a random configuration gives each user ``snr_db`` of received SNR.
    """
    lam = SPEED_OF_LIGHT / frequency
    m = users + targets
    thickness = 5 * lam
    d = thickness / (layers - 1) if layers > 1 else thickness
    area = (lam / 2) ** 2
    inp = AntennaArray.linear(m, lam / 2, 0.0, area)
    geom = SimGeometry.uniform(layers, n_side, n_side, frequency, thickness, input_antennas=inp, input_distance=d)
    model = SIMModel.from_geometry(geom, convention="downlink", seed=seed)
    rng = np.random.default_rng(seed)
    pos = geom.atom_positions()[-1]
    th_u, ph_u = user_directions(users, rng)
    h = saleh_valenzuela(pos, frequency, users, seed=rng, theta=th_u, phi=ph_u)
    tg = np.deg2rad(np.arange(0, 61, 3.0))
    pg = np.deg2rad(np.arange(-180, 180, 10.0))
    tt, pp = np.meshgrid(tg, pg, indexing="ij")
    tq, pq = tt.ravel(), pp.ravel()
    st = steering(pos, lam, tq, pq)  # (Q, N)
    desired = np.zeros(tq.size)
    tgt = list(target_angles)[:targets]
    for t0, p0 in tgt:
        dphi = np.angle(np.exp(1j * (pq - p0)))
        desired[(np.abs(tq - t0) <= np.deg2rad(6.01)) & (np.abs(dphi) <= np.deg2rad(15.01))] = 1.0
    # noise for snr_db at random phases, averaged over a few draws
    thetas = rng.uniform(0, 2 * np.pi, (16, layers, n_side * n_side))
    g = model.response(thetas)[:, 0]
    a = np.einsum("nk,bnm->bkm", np.conj(h), g)
    signal = np.mean(np.abs(a) ** 2) * 1.0  # per stream, unit power per stream
    noise = signal / 10 ** (snr_db / 10)
    obj = ISACBeamforming(model, h, st, desired, power=float(m), noise=float(noise), weights=weights)
    return ISACScenario(obj, geom, (tq, pq), tt.shape, tgt, (th_u, ph_u))


def bench_focus(model: SIMModel, port: int = 0, atom_response=None) -> Focus:
    """Focus the feed's power on receive ``port`` of a bench model (ideal, calibrated or true)."""
    return Focus(model, output=port, input=0, atom_response=atom_response)


def focus_point_model(geometry: SimGeometry, point, impairments: Impairments | None = None) -> SIMModel:
    """An end-to-end model from ``geometry``'s feed to an ideal receiver at ``point`` (x, y, z) in
    metres beyond the last layer: train :class:`Focus` on it to focus the SIM's output there."""
    p = np.asarray(point, float)
    if p.shape != (3,) or p[2] <= geometry.layer_z[-1]:
        raise TrainingError(
            f"the focal point must be (x, y, z) with z beyond the last layer (z > {geometry.layer_z[-1]:.4g} m)"
        )
    target = AntennaArray.point(tuple(p), geometry.atom_area)
    return SIMModel.from_geometry(dataclasses.replace(geometry, output_antennas=target), impairments=impairments)
