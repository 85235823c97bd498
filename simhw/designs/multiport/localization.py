"""Transfer-function matching on the multiport model, and the near-field localization example of [4] SIM in
the nonlinear regime.

:class:`TransferMatching` is a training objective (for :func:`simhw.designs.training.train`): outputs
Y = SIM(X) for excitations X (T, K) should match a target D (R, K) up to one complex scale,

    loss = min_c ||Y - c D||^2 / ||Y||^2 = 1 - |<D, Y>|^2 / (||D||^2 ||Y||^2),

with the adjoint gradient of :class:`~simhw.physics.multiport.model.MultiportSIM` (linear or nonlinear cells).

:func:`localization_scenario` ([4] SIM in the nonlinear regime, sec. V, after the first work it cites): a
point source in the near field of a small receive aperture (the Tx ports of the network), the SIM should map each source
position to the output port of its angle-range bin (one-hot targets). Closer sources arrive
stronger, which a linear SIM cannot equalise across ranges; limiting cells compress the strong ones.
Localization reads the strongest output port.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhw.designs.training.objectives import Objective, TrainingError
from simhw.physics.geometry import SPEED_OF_LIGHT, AntennaArray, SimGeometry
from simhw.physics.multiport.model import MultiportSIM, RappCell
from simhw.physics.propagation import cascade_matrices, rayleigh_sommerfeld

__all__ = ["TransferMatching", "LocalizationScenario", "localization_scenario", "matching_loss", "localize"]


def matching_loss(y: np.ndarray, d: np.ndarray) -> float:
    c = np.vdot(d, y)
    return float(1 - abs(c) ** 2 / (np.vdot(d, d).real * max(np.vdot(y, y).real, 1e-300)))


class TransferMatching(Objective):
    name = "transfer-matching"

    def __init__(self, model: MultiportSIM, excitations, target):
        super().__init__(model)
        self.x = np.asarray(excitations, complex)
        self.d = np.asarray(target, complex)
        if (
            self.x.shape[0] != model.n_inputs
            or self.d.shape[0] != model.n_outputs
            or self.x.shape[1] != self.d.shape[1]
        ):
            raise TrainingError(f"excitations must be ({model.n_inputs}, K) and targets ({model.n_outputs}, K)")

    def loss_batch(self, theta, amplitude=None) -> np.ndarray:
        theta, _ = self._as_batch(theta)
        return np.array([matching_loss(self.model.outputs(th, self.x), self.d) for th in theta])

    def loss_and_grad(self, theta, samples=None) -> tuple[float, np.ndarray]:
        y = self.model.outputs(theta, self.x)
        d = self.d
        c = np.vdot(d, y)
        dd, yy = np.vdot(d, d).real, max(np.vdot(y, y).real, 1e-300)
        loss = float(1 - abs(c) ** 2 / (dd * yy))
        g_y = -2 * c * d / (dd * yy) + abs(c) ** 2 * 2 * y / (dd * yy**2)
        return loss, self.model.vjp(theta, self.x, g_y)

    def metrics(self, theta, amplitude=None) -> dict:
        y = self.model.outputs(theta, self.x)
        hit = np.argmax(np.abs(y), axis=0) == np.argmax(np.abs(self.d), axis=0)
        return {
            "loss": matching_loss(y, self.d),
            "matching_error_db": 10 * np.log10(max(matching_loss(y, self.d), 1e-300)),
            "bin_accuracy": float(np.mean(hit)),
        }


@dataclass
class LocalizationScenario:
    linear: TransferMatching
    nonlinear: TransferMatching
    positions: np.ndarray  # (K, 3) training source positions
    bins: np.ndarray  # (K,) target output port per source
    centres: np.ndarray  # (bins, 3) the centre of every angle-range bin
    make_excitations: object  # positions (K, 3) -> excitations (16, K), scaled as the training ones


def localize(objective: TransferMatching, theta, excitations, centres) -> np.ndarray:
    """Estimated positions (K, 3): the centre of the bin whose output port is strongest."""
    y = objective.model.outputs(theta, excitations)
    return centres[np.argmax(np.abs(y), axis=0)]


def localization_scenario(
    n_side: int = 6,
    layers: int = 4,
    angles: int = 3,
    ranges: int = 2,
    per_bin: int = 2,
    frequency: float = 28e9,
    reflection: float = 0.1,
    coupling: float = 0.0,
    rapp=(1.0, None, 2.0),
    drive: float = 1.0,
    seed: int = 0,
) -> LocalizationScenario:
    """Sources at ``angles`` x ``ranges`` bins (angles -30..30 degrees, ranges 3..12 lambda from the
    aperture), ``per_bin`` random positions each; a 4 x 4 receive aperture feeds an L-stage SIM of
    n_side^2 cells whose Rx array has one port per bin. The Rapp saturation level is set to the
    median internal wave amplitude of a random configuration divided by ``drive`` (the strongest
    sources are then compressed), unless ``rapp[1]`` gives it."""
    rng = np.random.default_rng(seed)
    lam = SPEED_OF_LIGHT / frequency
    pitch = lam / 2
    thickness = 2 * lam
    area = pitch * pitch
    d_in = lam
    aperture = np.stack(
        np.meshgrid((np.arange(4) - 1.5) * pitch, (np.arange(4) - 1.5) * pitch, indexing="xy"), -1
    ).reshape(-1, 2)
    inp = AntennaArray(np.c_[aperture, np.zeros(16)], area)
    z_last = d_in + thickness
    n_out = angles * ranges
    out = AntennaArray.linear(n_out, pitch, z_last + lam, area)
    geom = SimGeometry.uniform(
        layers,
        n_side,
        n_side,
        frequency,
        thickness,
        input_antennas=inp,
        output_antennas=out,
        input_distance=d_in,
        output_distance=lam,
    )
    cas = cascade_matrices(geom)
    ang = np.deg2rad(np.linspace(-30, 30, angles))
    rng_edges = np.linspace(3 * lam, 12 * lam, ranges + 1)
    width = ang[1] - ang[0] if angles > 1 else np.deg2rad(20)
    pos, bins = [], []
    for i, a0 in enumerate(ang):
        for j in range(ranges):
            for _ in range(per_bin):
                a = a0 + rng.uniform(-0.3, 0.3) * width
                r = rng.uniform(rng_edges[j], rng_edges[j + 1])
                pos.append([r * np.sin(a), 0.0, -r * np.cos(a)])
                bins.append(i * ranges + j)
    pos = np.array(pos)
    field = lambda p: rayleigh_sommerfeld(p, inp.positions, np.array([lam]), area)[0]  # noqa: E731  (16, K)
    x = field(pos)
    scale = 1.0 / np.median(np.linalg.norm(x, axis=0))
    x = x * scale
    r_mid = (rng_edges[:-1] + rng_edges[1:]) / 2
    centres = np.array([[r * np.sin(a), 0.0, -r * np.cos(a)] for a in ang for r in r_mid])
    target = np.zeros((n_out, len(bins)), complex)
    target[bins, np.arange(len(bins))] = 1.0
    linear = MultiportSIM(cas, reflection=reflection, coupling=coupling)
    a_sat = rapp[1]
    if a_sat is None:
        b = linear.internal_waves(rng.uniform(0, 2 * np.pi, (layers, n_side * n_side)), x)
        a_sat = float(np.median(np.abs(b))) / drive
    nonlinear = MultiportSIM(
        cas, reflection=reflection, coupling=coupling, cell=RappCell(rapp[0], a_sat, rapp[2]), relax=0.9
    )
    return LocalizationScenario(
        TransferMatching(linear, x, target),
        TransferMatching(nonlinear, x, target),
        pos,
        np.array(bins),
        centres,
        lambda p: field(np.asarray(p)) * scale,
    )
