"""SIM geometry: layers, meta-atom grids, antenna arrays and fabrication errors.

Coordinates: the layers are parallel planes normal to z; propagation runs along +z from the input
antennas (feed array in the downlink, test UE in the uplink) through layers 1..L to the output
antennas. Meta-atoms sit on a rows x cols grid with pitch (pitch_x, pitch_y), centred on the layer
axis. Atom index n = row * cols + col (row along y, col along x).

Fabrication errors follow [3] Interlayer error calibration (sec. II-B and IV; docs/physics.md,
sec. 2), drawn independently per layer:

* E-I, spacing irregularity: the gap from the previous plane (the input array for layer 1) to this
  layer changes by U(-e_I, e_I). Layers are mounted on one another, so the shift accumulates.
* E-V, vertical height offset: the whole layer translates in its own plane along the vertical (y)
  axis by U(-e_V, e_V).
* E-P, planar rotation: the layer rotates in its plane about its centre by U(-e_P, e_P).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0

__all__ = [
    "GeometryError",
    "SPEED_OF_LIGHT",
    "AntennaArray",
    "FabricationErrors",
    "ErrorDraw",
    "SimGeometry",
]


def _as_float_array(value, shape_tail: tuple[int, ...] | None, name: str) -> np.ndarray:
    arr = np.array(value, dtype=float)
    if shape_tail is not None and arr.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape_tail))}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    arr.setflags(write=False)
    return arr


class GeometryError(ValueError):
    """The numbers describe no buildable SIM (a gap at or below zero, a layer past the receive antennas)."""


@dataclass(frozen=True)
class AntennaArray:
    """Point antennas at absolute positions (M, 3) in metres, each with an effective area (m^2).

    The area enters the Rayleigh-Sommerfeld coefficient when the array is a *source*
    (docs/physics.md, sec. 1: the same formula with the antenna positions in place of a layer).
    """

    positions: np.ndarray
    area: float

    def __post_init__(self):
        object.__setattr__(self, "positions", _as_float_array(self.positions, (3,), "antenna positions"))
        if not (self.area > 0 and math.isfinite(self.area)):
            raise ValueError(f"antenna area must be a positive finite number, got {self.area!r}")

    @property
    def count(self) -> int:
        return self.positions.shape[0]

    @classmethod
    def linear(
        cls,
        count: int,
        spacing: float,
        z: float,
        area: float,
        axis: str = "x",
        centre: tuple[float, float] = (0.0, 0.0),
    ) -> AntennaArray:
        """A uniform linear array of ``count`` antennas centred on the layer axis at height ``z``."""
        if count < 1:
            raise ValueError(f"an antenna array needs at least one antenna, got count={count}")
        offsets = (np.arange(count) - (count - 1) / 2) * spacing
        pos = np.zeros((count, 3))
        pos[:, 0], pos[:, 1], pos[:, 2] = centre[0], centre[1], z
        pos[:, {"x": 0, "y": 1}[axis]] += offsets
        return cls(pos, area)

    @classmethod
    def point(cls, position, area: float) -> AntennaArray:
        """A single antenna, e.g. a test UE far from the SIM."""
        return cls(np.asarray(position, dtype=float).reshape(1, 3), area)


@dataclass(frozen=True)
class FabricationErrors:
    """Maximum bounds of the uniform fabrication errors ([3] Interlayer error calibration, sec. IV).

    spacing and offset are in metres, rotation in radians; zero disables an error.
    """

    spacing: float = 0.0
    offset: float = 0.0
    rotation: float = 0.0

    def __post_init__(self):
        for name in ("spacing", "offset", "rotation"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"fabrication error bound {name!r} must be finite and >= 0, got {v!r}")

    @classmethod
    def paper(cls, wavelength: float, scale: float = 1.0) -> FabricationErrors:
        """The bounds of the case study of [3] Interlayer error calibration (sec. IV): e_I = 0.1% lambda,
        e_V = 1% lambda, e_P = 0.01 deg."""
        return cls(
            spacing=1e-3 * wavelength * scale, offset=1e-2 * wavelength * scale, rotation=math.radians(0.01) * scale
        )

    def scaled(self, factor: float) -> FabricationErrors:
        return FabricationErrors(self.spacing * factor, self.offset * factor, self.rotation * factor)


@dataclass(frozen=True)
class ErrorDraw:
    """The per-layer error values actually drawn (the hidden truth a calibration tries to find)."""

    spacing: np.ndarray  # (L,) metres added to the gap before each layer
    offset: np.ndarray  # (L,) metres of in-plane translation along y
    rotation: np.ndarray  # (L,) radians of in-plane rotation


@dataclass(frozen=True)
class SimGeometry:
    """Geometry of an L-layer SIM with its input and output antenna arrays.

    ``gaps[l]`` is the distance along z from the previous plane to layer l (for l = 0 from the
    input array's plane, z = 0, to the first layer). ``offsets[l]`` is the in-plane (x, y)
    translation of layer l and ``rotations[l]`` its in-plane rotation about its centre.
    ``frequencies`` is the vector of frequencies (Hz) the propagation matrices are computed at;
    ``carrier`` fixes the nominal pitch and is the first frequency unless given.
    """

    n_layers: int
    rows: int
    cols: int
    pitch_x: float
    pitch_y: float
    gaps: np.ndarray
    input_antennas: AntennaArray
    output_antennas: AntennaArray
    frequencies: np.ndarray
    offsets: np.ndarray = None
    rotations: np.ndarray = None
    errors: ErrorDraw | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.n_layers < 1 or self.rows < 1 or self.cols < 1:
            raise ValueError(
                f"a SIM needs >= 1 layer, row and column, got L={self.n_layers}, rows={self.rows}, cols={self.cols}"
            )
        if not (self.pitch_x > 0 and self.pitch_y > 0):
            raise ValueError("meta-atom pitch must be positive")
        gaps = _as_float_array(self.gaps, None, "gaps").reshape(-1)
        if gaps.shape != (self.n_layers,):
            raise ValueError(f"gaps must have one entry per layer ({self.n_layers}), got {gaps.shape[0]}")
        if np.any(gaps <= 0):
            raise GeometryError("every gap between planes must be positive")
        object.__setattr__(self, "gaps", gaps)
        freqs = _as_float_array(np.atleast_1d(self.frequencies), None, "frequencies").reshape(-1)
        if freqs.size == 0 or np.any(freqs <= 0):
            raise ValueError("frequencies must be a non-empty vector of positive values (Hz)")
        object.__setattr__(self, "frequencies", freqs)
        offsets = np.zeros((self.n_layers, 2)) if self.offsets is None else self.offsets
        object.__setattr__(self, "offsets", _as_float_array(offsets, (2,), "offsets"))
        if self.offsets.shape[0] != self.n_layers:
            raise ValueError("offsets must have one (x, y) row per layer")
        rotations = np.zeros(self.n_layers) if self.rotations is None else self.rotations
        object.__setattr__(self, "rotations", _as_float_array(rotations, None, "rotations").reshape(-1))
        if self.rotations.shape != (self.n_layers,):
            raise ValueError("rotations must have one entry per layer")
        if np.min(self.output_antennas.positions[:, 2]) <= self.layer_z[-1]:
            raise GeometryError("output antennas must lie beyond the last layer (larger z)")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def uniform(
        cls,
        n_layers: int,
        rows: int,
        cols: int,
        frequency: float,
        thickness: float,
        *,
        frequencies=None,
        pitch: float | None = None,
        input_antennas: AntennaArray | None = None,
        output_antennas: AntennaArray | None = None,
        input_distance: float | None = None,
        output_distance: float | None = None,
        n_inputs: int = 1,
        n_outputs: int = 1,
    ) -> SimGeometry:
        """An ideal SIM: L layers spread evenly over ``thickness`` (d_L = T_SIM/(L-1)).

        Default pitch lambda/2. Without explicit arrays, ``n_inputs`` feed antennas sit at
        ``input_distance`` (default d_L) before layer 1 and ``n_outputs`` receive antennas at
        ``output_distance`` (default d_L) after layer L, as lambda/2 linear arrays along x.
        """
        wavelength = SPEED_OF_LIGHT / frequency
        pitch = wavelength / 2 if pitch is None else pitch
        spacing = thickness / (n_layers - 1) if n_layers > 1 else thickness
        if spacing <= 0:
            raise ValueError("thickness must be positive")
        d_in = spacing if input_distance is None else input_distance
        d_out = spacing if output_distance is None else output_distance
        gaps = np.concatenate([[d_in], np.full(n_layers - 1, spacing)])
        area = pitch * pitch
        if input_antennas is None:
            input_antennas = AntennaArray.linear(n_inputs, wavelength / 2, 0.0, area)
        z_last = float(np.sum(gaps))
        if output_antennas is None:
            output_antennas = AntennaArray.linear(n_outputs, wavelength / 2, z_last + d_out, area)
        freqs = np.array([frequency]) if frequencies is None else np.asarray(frequencies, float)
        return cls(n_layers, rows, cols, pitch, pitch, gaps, input_antennas, output_antennas, freqs)

    def with_frequencies(self, frequencies) -> SimGeometry:
        return dataclasses.replace(self, frequencies=np.atleast_1d(np.asarray(frequencies, float)))

    def with_errors(
        self, bounds: FabricationErrors, seed: int | np.random.Generator | None = None, draw: ErrorDraw | None = None
    ) -> SimGeometry:
        """A copy perturbed by fabrication errors drawn U(-bound, bound) per layer (seeded).

        Pass ``draw`` instead to apply known error values. Zero bounds reproduce this geometry
        exactly.
        """
        L = self.n_layers
        if draw is None:
            rng = np.random.default_rng(seed)
            u = rng.uniform(-1.0, 1.0, size=(3, L))
            draw = ErrorDraw(
                spacing=u[0] * bounds.spacing, offset=u[1] * bounds.offset, rotation=u[2] * bounds.rotation
            )
        for name in ("spacing", "offset", "rotation"):
            if np.shape(getattr(draw, name)) != (L,):
                raise ValueError(f"error draw {name!r} must have one value per layer ({L})")
        offsets = self.offsets.copy()
        offsets[:, 1] += draw.offset
        return dataclasses.replace(
            self, gaps=self.gaps + draw.spacing, offsets=offsets, rotations=self.rotations + draw.rotation, errors=draw
        )

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_atoms(self) -> int:
        return self.rows * self.cols

    @property
    def carrier(self) -> float:
        return float(self.frequencies[0])

    @property
    def wavelengths(self) -> np.ndarray:
        return SPEED_OF_LIGHT / self.frequencies

    @property
    def atom_area(self) -> float:
        return self.pitch_x * self.pitch_y

    @property
    def layer_z(self) -> np.ndarray:
        """z of each layer plane, measured from the input array's plane z = 0."""
        return np.cumsum(self.gaps)

    def nominal_atom_grid(self) -> np.ndarray:
        """(N, 2) in-plane (x, y) atom centres of an unperturbed layer, centred on the axis."""
        col = (np.arange(self.cols) - (self.cols - 1) / 2) * self.pitch_x
        row = (np.arange(self.rows) - (self.rows - 1) / 2) * self.pitch_y
        yy, xx = np.meshgrid(row, col, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=-1)

    def atom_positions(self) -> np.ndarray:
        """(L, N, 3) absolute atom positions including rotation and offset of each layer."""
        grid = self.nominal_atom_grid()
        c, s = np.cos(self.rotations), np.sin(self.rotations)
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (L, 2, 2)
        xy = np.einsum("lij,nj->lni", rot, grid) + self.offsets[:, None, :]
        z = np.broadcast_to(self.layer_z[:, None, None], (self.n_layers, self.n_atoms, 1))
        return np.concatenate([xy, z], axis=-1)

    def describe(self) -> dict:
        """A JSON-friendly summary (for bench snapshots and reports)."""
        return {
            "n_layers": self.n_layers,
            "rows": self.rows,
            "cols": self.cols,
            "pitch_x": self.pitch_x,
            "pitch_y": self.pitch_y,
            "gaps": self.gaps.tolist(),
            "offsets": self.offsets.tolist(),
            "rotations": self.rotations.tolist(),
            "frequencies": self.frequencies.tolist(),
            "input_antennas": self.input_antennas.positions.tolist(),
            "output_antennas": self.output_antennas.positions.tolist(),
        }
