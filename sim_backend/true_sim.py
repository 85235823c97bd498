"""The simulated "true" SIM: a geometry with seeded fabrication errors, impairments and drift.

This is the hidden truth of the simulated bench (docs/physics.md, sec. 2 and 3). The simulated VNA asks it
for end-to-end responses; tests and benchmarks may read it to score calibration; drivers,
calibration and trainers never see it.

Drift: the bench temperature moves with simulated time (``SimClock``, which tests can
accelerate or jump). A temperature change dT scales every gap by (1 + cte * dT) (thermal
expansion of the spacers) and adds dT * phase_per_kelvin * (1 + spread * g_n) to each atom's
phase (g_n a fixed seeded normal draw per atom): what the state-driven recalibration must catch.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

import numpy as np

from sim_backend.bench_effects import BenchEffects
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.impairments import Impairments
from simhw.physics.model import SIMModel
from simhw.physics.multiport import MultiportSIM

__all__ = ["SimClock", "Drift", "TrueSIM"]


class SimClock:
    """Simulated time in seconds: runs ``speed`` times faster than the wall clock, and can jump."""

    def __init__(self, speed: float = 1.0, start: float = 0.0):
        self.speed = speed
        self._origin = time.monotonic()
        self._offset = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._offset + self.speed * (time.monotonic() - self._origin)

    def advance(self, seconds: float) -> None:
        """Jump forward (or back) by ``seconds`` of simulated time."""
        with self._lock:
            self._offset += seconds

    def set_speed(self, speed: float) -> None:
        with self._lock:
            now = self._offset + self.speed * (time.monotonic() - self._origin)
            self._origin, self._offset, self.speed = time.monotonic(), now, speed


@dataclass(frozen=True)
class Drift:
    """Temperature drift of the bench: dT(t) = rate_k_per_hour * t / 3600 (+ ``offset_k``)."""

    rate_k_per_hour: float = 0.0
    offset_k: float = 0.0
    cte: float = 2e-4  # relative gap change per kelvin (spacer expansion)
    phase_per_kelvin: float = 0.02  # rad per kelvin, mean over atoms
    spread: float = 0.5  # relative spread of the per-atom phase coefficient

    def delta_t(self, t: float) -> float:
        return self.offset_k + self.rate_k_per_hour * t / 3600.0


class TrueSIM:
    """A SIM as built: ``ideal`` geometry perturbed by ``errors`` (seeded), with impairments and drift."""

    base_temperature_c = 25.0

    def __init__(
        self,
        ideal: SimGeometry,
        errors: FabricationErrors | None = None,
        seed: int | None = 0,
        impairments: Impairments | None = None,
        drift: Drift | None = None,
        propagation: str = "rs",
        clock: SimClock | None = None,
        multiport: dict | None = None,
        effects: BenchEffects | None = None,
    ):
        """``multiport``: None for the cascade model, or the keyword arguments of
        :class:`simhw.physics.multiport.MultiportSIM` (``reflection``, ``coupling``, ``cell``) to compute every
        response with the multiport network model of the same geometry (internal reflections)."""
        self.ideal = ideal
        self.multiport = multiport
        self.effects = effects or BenchEffects()
        self.errors = errors or FabricationErrors()
        self.geometry = ideal.with_errors(self.errors, seed=seed)
        self.impairments = impairments or Impairments()
        self.drift = drift or Drift()
        self.propagation = propagation
        self.clock = clock or SimClock()
        rng = np.random.default_rng(None if seed is None else seed + 1)
        self._phase_gain = 1.0 + self.drift.spread * rng.standard_normal((ideal.n_layers, ideal.n_atoms))
        self._noise_rng = np.random.default_rng(None if seed is None else seed + 2)
        self._cache: dict = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state at a time
    def delta_t(self, t: float | None = None) -> float:
        return self.drift.delta_t(self.clock.now() if t is None else t)

    def temperature_c(self, t: float | None = None) -> float:
        return self.base_temperature_c + self.delta_t(t)

    def set_drift(self, drift: Drift) -> None:
        with self._lock:
            self.drift = drift
            self._cache.clear()

    def model(self, frequencies, t: float | None = None) -> SIMModel:
        """The true cascade at ``frequencies`` and simulated time ``t`` (cached per drift state)."""
        freqs = np.atleast_1d(np.asarray(frequencies, float))
        dT = round(self.delta_t(t), 6)
        key = (freqs.tobytes(), dT)
        with self._lock:
            m = self._cache.get(key)
            if m is None:
                geom = dataclasses.replace(
                    self.geometry.with_frequencies(freqs), gaps=self.geometry.gaps * (1.0 + self.drift.cte * dT)
                )
                m = SIMModel.from_geometry(geom, self.propagation, self.impairments, seed=self._noise_rng)
                if self.effects.horn_q:
                    m = SIMModel(self._with_horns(m.cascade, geom), self.impairments, seed=self._noise_rng)
                if len(self._cache) > 16:
                    self._cache.clear()
                self._cache[key] = m
            return m

    def _with_horns(self, cascade, geom):
        """The cascade with the feed's and the receive horns' patterns on layer 1 and layer L."""
        atoms = geom.atom_positions()
        w_in, w_out = self.effects.horn_weights(
            geom.input_antennas.positions, atoms[0], geom.output_antennas.positions, atoms[-1]
        )
        return dataclasses.replace(cascade, w_in=cascade.w_in * w_in[None], w_out=cascade.w_out * w_out[None])

    def phase_offset(self, t: float | None = None) -> np.ndarray:
        """(L, N) phase added to every atom by drift at time ``t``."""
        return self.delta_t(t) * self.drift.phase_per_kelvin * self._phase_gain

    def response(self, codes, bits: int, frequencies, t: float | None = None) -> np.ndarray:
        """Responses from the input antenna to every output antenna.

        ``codes``: (L, rows, cols) or a batch (B, L, rows, cols) of integer codes.
        Returns (F, P) or (B, F, P) complex, P = number of output antennas.
        """
        codes = np.asarray(codes)
        single = codes.ndim == 3
        batch = codes[None] if single else codes
        theta = self.effects.code_phases(batch.reshape(batch.shape[0], self.ideal.n_layers, -1), bits)
        theta = theta + self.phase_offset(t)
        if self.multiport is None:
            h = self.model(frequencies, t).response(theta)[..., 0]  # (B, F, P): input antenna 0
        else:
            h = self._multiport_response(theta, frequencies, t)
        if self.effects.any:
            h = self._bench_paths(h, frequencies, t)
        return h[0] if single else h

    def _bench_paths(self, h: np.ndarray, frequencies, t) -> np.ndarray:
        """Multipath and leakage added to the SIM path, the cables' temperature phase on all of it."""
        f = np.atleast_1d(np.asarray(frequencies, float))
        g = self.geometry
        added = self.effects.added_paths(f, g.input_antennas.positions[0], g.output_antennas.positions)
        return (h + added[None]) * self.effects.cable_factor(f, self.delta_t(t))[None]

    def _multiport_response(self, theta: np.ndarray, frequencies, t) -> np.ndarray:
        cascade = self.model(frequencies, t).cascade
        nets = [MultiportSIM(cascade, frequency_index=f, **self.multiport) for f in range(cascade.frequencies.size)]
        out = np.empty((theta.shape[0], len(nets), cascade.w_out.shape[1]), complex)
        for b, th in enumerate(theta):
            for f, net in enumerate(nets):
                out[b, f] = net.outputs(th, np.ones((1, 1)))[:, 0]
        return out
