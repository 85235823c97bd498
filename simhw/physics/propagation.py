"""Propagation models: the matrices that carry a wave between planes of a SIM.

Both models return arrays of shape (F, N_dst, N_src), one matrix per frequency, built in one
vectorised evaluation over all atom pairs and frequencies.

Rayleigh-Sommerfeld (default; [6] SIM for holographic MIMO, used by [1], [2], [3], [5])::

    w[n, n'] = A cos(chi) / r * (1 / (2 pi r) - 1j / lambda) * exp(1j k r),  cos(chi) = d / r

with A the *source* element area, r the distance between the two points and d their separation
along the layer normal.

Radar-equation model ([3] Interlayer error calibration, sec. II-A): free-space gain over distance only,
``w = sqrt(G_s G_d) * lambda / (4 pi r) * exp(1j k r)`` with aperture elements of area A and an
obliquity pattern G(chi) = 4 pi A / lambda^2 * cos(chi)^q, i.e. the far-field magnitude of the RS
coefficient when q = 1, without its near-field 1/(2 pi r) term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhw.physics.geometry import SPEED_OF_LIGHT, SimGeometry

__all__ = ["rayleigh_sommerfeld", "radar", "PROPAGATION_MODELS", "Cascade", "cascade_matrices"]


def _distances(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = dst[:, None, :] - src[None, :, :]
    r = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if np.any(r <= 0):
        raise ValueError("a source and a destination point coincide (r = 0)")
    cos_chi = np.abs(diff[..., 2]) / r
    return r, cos_chi


def rayleigh_sommerfeld(src: np.ndarray, dst: np.ndarray, wavelengths, area: float, dtype=np.complex128) -> np.ndarray:
    """Rayleigh-Sommerfeld diffraction coefficients, shape (F, len(dst), len(src))."""
    r, cos_chi = _distances(np.asarray(src, float), np.asarray(dst, float))
    lam = np.atleast_1d(np.asarray(wavelengths, float))[:, None, None]
    k = 2 * np.pi / lam
    w = area * cos_chi / r * (1.0 / (2 * np.pi * r) - 1j / lam) * np.exp(1j * k * r)
    return w.astype(dtype, copy=False)


def radar(
    src: np.ndarray, dst: np.ndarray, wavelengths, area: float, q: float = 1.0, dtype=np.complex128
) -> np.ndarray:
    """Geometric radar-equation coefficients, shape (F, len(dst), len(src))."""
    r, cos_chi = _distances(np.asarray(src, float), np.asarray(dst, float))
    lam = np.atleast_1d(np.asarray(wavelengths, float))[:, None, None]
    gain = 4 * np.pi * area / lam**2 * cos_chi**q
    w = gain * lam / (4 * np.pi * r) * np.exp(2j * np.pi / lam * r)
    return w.astype(dtype, copy=False)


PROPAGATION_MODELS = {"rs": rayleigh_sommerfeld, "rayleigh-sommerfeld": rayleigh_sommerfeld, "radar": radar}


@dataclass(frozen=True)
class Cascade:
    """The propagation matrices of a SIM, all with a leading frequency axis F.

    ``w_in``  (F, N, M_in): input antennas -> layer 1
    ``w_layers`` (L-1, F, N, N): ``w_layers[l-1]`` carries layer l -> layer l+1 (W_{l+1} of docs/physics.md, sec. 1)
    ``w_out`` (F, M_out, N): layer L -> output antennas
    """

    w_in: np.ndarray
    w_layers: np.ndarray
    w_out: np.ndarray
    frequencies: np.ndarray

    @property
    def n_layers(self) -> int:
        return self.w_layers.shape[0] + 1

    @property
    def n_atoms(self) -> int:
        return self.w_in.shape[1]


def cascade_matrices(geometry: SimGeometry, model: str = "rs", dtype=np.complex128) -> Cascade:
    """All propagation matrices of ``geometry`` at its frequencies, using ``model`` ('rs' or 'radar')."""
    try:
        fn = PROPAGATION_MODELS[model.lower()]
    except KeyError:
        raise ValueError(f"unknown propagation model {model!r}; choose one of {sorted(PROPAGATION_MODELS)}") from None
    lam = SPEED_OF_LIGHT / geometry.frequencies
    atoms = geometry.atom_positions()
    area = geometry.atom_area
    w_in = fn(geometry.input_antennas.positions, atoms[0], lam, geometry.input_antennas.area, dtype=dtype)
    L, N = geometry.n_layers, geometry.n_atoms
    w_layers = np.empty((L - 1, lam.size, N, N), dtype=dtype)
    for l in range(L - 1):
        w_layers[l] = fn(atoms[l], atoms[l + 1], lam, area, dtype=dtype)
    w_out = fn(atoms[-1], geometry.output_antennas.positions, lam, area, dtype=dtype)
    return Cascade(w_in, w_layers, w_out, geometry.frequencies.copy())
