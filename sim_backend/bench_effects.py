"""What a real bench adds to a SIM's response that no SIM model contains. Each effect is seeded and off
when its knob (``[simulation]`` in the bench file) is 0.

- **Multipath** (``multipath``, ``multipath_delay_ns``): a specular path off the room or the mounting
  structure from the feed to every receive antenna, ``multipath`` times the line-of-sight free-space
  amplitude, arriving ``multipath_delay_ns`` after the line of sight. It beats against the SIM path:
  the measured magnitude ripples across frequency with period 1 / excess delay (the chamber
  "ripple" of Hemming, *Electromagnetic Anechoic Chambers*, Wiley 2002, ch. 6). A mounting
  structure at 30-100 cm gives 2-7 ns; a treated room -30 to -20 dB, an open lab bench -15 dB.
- **Feed and cable phase drift** (``cable_ppm_per_k``, ``cable_delay_ns``): the electrical length
  tau of the feed and receive cables changes by ``cable_ppm_per_k`` per kelvin of the bench's
  temperature, so each response turns by -2 pi f tau kappa dT. PTFE-dielectric coax runs
  -50 to -100 ppm/K around room temperature, phase-stable cables 5-10 ppm/K (Huber+Suhner
  SUCOFLEX 100 and Times Microwave PhaseTrack data sheets); 1 m of cable is about 4-5 ns.
- **Leakage** (``leakage``, ``leakage_delay_ns``): feed-to-receive coupling around the SIM,
  ``leakage`` times the line-of-sight amplitude, the same for every configuration. Horns side by
  side isolate 40-60 dB; around a SIM in a fixture -40 to -30 dB is typical.
- **Per-atom spread of the code responses** (``code_spread``): each atom shows code k as
  2 pi k / 2^b plus its own phase error, drawn once per atom and code (rad). Measured PIN-diode
  and varactor unit cells spread 5-15 degrees from their nominal states ([8] RIS
  prototyping, docs/physics.md, sec. 6).
- **Horn patterns** (``horn_q``): feed and receive horns weight each atom by the cos^q pattern of
  the angle between the horn's boresight (+z, towards the SIM) and the atom (Balanis, *Antenna
  Theory*, 4th ed., sec. 2.6: directivity 2 (q + 1), so a 15 dBi horn is q of about 15).

The VNA's calibration residuals (directivity, source match, tracking) are the instrument's:
:mod:`sim_backend.vna.instrument` (``vna_residual_*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BenchEffects", "C0"]

C0 = 299_792_458.0


@dataclass(frozen=True)
class BenchEffects:
    multipath: float = 0.0
    multipath_delay_ns: float = 3.0
    cable_ppm_per_k: float = 0.0
    cable_delay_ns: float = 5.0
    leakage: float = 0.0
    leakage_delay_ns: float = 0.5
    code_spread: float = 0.0
    horn_q: float = 0.0
    seed: int = 0

    @property
    def any(self) -> bool:
        return bool(self.multipath or self.cable_ppm_per_k or self.leakage or self.code_spread or self.horn_q)

    # ------------------------------------------------------------------ on the configuration
    def code_phase_errors(self, n_layers: int, n_atoms: int, bits: int) -> np.ndarray:
        """(L, N, 2^bits) phase error of each atom's code (rad); zeros when ``code_spread`` is 0."""
        if not self.code_spread:
            return np.zeros((n_layers, n_atoms, 1 << bits))
        rng = np.random.default_rng([self.seed, 17, bits])
        return self.code_spread * rng.standard_normal((n_layers, n_atoms, 1 << bits))

    def code_phases(self, codes: np.ndarray, bits: int) -> np.ndarray:
        """(B, L, N) phases the atoms show for integer ``codes`` (B, L, N), errors included."""
        theta = codes * (2 * np.pi / (1 << bits))
        if not self.code_spread:
            return theta
        err = self.code_phase_errors(codes.shape[1], codes.shape[2], bits)
        l_idx = np.arange(codes.shape[1])[None, :, None]
        n_idx = np.arange(codes.shape[2])[None, None, :]
        return theta + err[l_idx, n_idx, codes]

    # ------------------------------------------------------------------ on the geometry
    @staticmethod
    def _cos_q(antennas: np.ndarray, atoms: np.ndarray, q: float, towards: float) -> np.ndarray:
        """(M, N) cos^q of the angle between +z (times ``towards``) at each antenna and each atom."""
        d = atoms[None, :, :] - antennas[:, None, :]
        cos = towards * d[..., 2] / np.linalg.norm(d, axis=-1)
        return np.clip(cos, 0.0, 1.0) ** q

    def horn_weights(self, input_positions, first_layer_atoms, output_positions, last_layer_atoms):
        """(N, M_in) weights of the feed's pattern on layer 1 and (M_out, N) of the receive horns on layer L."""
        w_in = self._cos_q(np.asarray(input_positions), np.asarray(first_layer_atoms), self.horn_q, 1.0).T
        w_out = self._cos_q(np.asarray(output_positions), np.asarray(last_layer_atoms), self.horn_q, -1.0)
        return w_in, w_out

    # ------------------------------------------------------------------ on the response
    def line_of_sight(self, input_position, output_positions, frequencies) -> tuple[np.ndarray, np.ndarray]:
        """(F, P) free-space amplitude lambda / (4 pi d) of the direct feed-to-receive path, and its delays (P,)."""
        d = np.linalg.norm(np.asarray(output_positions) - np.asarray(input_position)[None, :], axis=-1)
        lam = C0 / np.asarray(frequencies, float)
        return lam[:, None] / (4 * np.pi * d[None, :]), d / C0

    def added_paths(self, frequencies, input_position, output_positions) -> np.ndarray:
        """(F, P) what multipath and leakage add to every response (independent of the configuration)."""
        f = np.asarray(frequencies, float)
        amp, tau = self.line_of_sight(input_position, output_positions, f)
        out = np.zeros(amp.shape, complex)
        rng = np.random.default_rng([self.seed, 23])
        phases = rng.uniform(0, 2 * np.pi, (2, amp.shape[1]))
        if self.multipath:
            delay = tau[None, :] + self.multipath_delay_ns * 1e-9
            out += self.multipath * amp * np.exp(1j * phases[0] - 2j * np.pi * f[:, None] * delay)
        if self.leakage:
            delay = tau[None, :] + self.leakage_delay_ns * 1e-9
            out += self.leakage * amp * np.exp(1j * phases[1] - 2j * np.pi * f[:, None] * delay)
        return out

    def cable_factor(self, frequencies, delta_t_k: float) -> np.ndarray:
        """(F, 1) phase turn of the cables at a temperature ``delta_t_k`` from the reference."""
        f = np.asarray(frequencies, float)
        dtau = self.cable_delay_ns * 1e-9 * self.cable_ppm_per_k * 1e-6 * delta_t_k
        return np.exp(-2j * np.pi * f * dtau)[:, None]
