"""Measurement records and their Touchstone export.

A :class:`Measurement` is one sweep of the SIM under one configuration: the config hash, the
frequencies, the measured S-parameters S(p, 1) from the test antenna (port 1) to each receive
port p, a timestamp and the instrument settings. ``to_touchstone`` writes a standard ``.sNp``
file (Touchstone 1.1, RI format) that scikit-rf and any RF tool read; entries that were not
measured are written as 0 and listed in a comment.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Measurement"]


@dataclass
class Measurement:
    config_hash: str
    frequencies: np.ndarray  # (F,) Hz
    s: np.ndarray  # (F, P) complex: column p is S(receive_ports[p], 1)
    receive_ports: tuple = (2,)
    timestamp: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.frequencies = np.asarray(self.frequencies, float).reshape(-1)
        self.s = np.asarray(self.s, complex)
        if self.s.ndim == 1:
            self.s = self.s[:, None]
        if self.s.shape != (self.frequencies.size, len(self.receive_ports)):
            raise ValueError(f"s must have shape (F, P) = ({self.frequencies.size}, {len(self.receive_ports)}), "
                             f"got {self.s.shape}")

    @property
    def n_ports(self) -> int:
        return max(max(self.receive_ports), 1)

    def s_matrix(self) -> np.ndarray:
        """(F, n, n) with the measured S(p,1) and, by reciprocity, S(1,p); the rest 0."""
        n = self.n_ports
        out = np.zeros((self.frequencies.size, n, n), complex)
        for k, p in enumerate(self.receive_ports):
            out[:, p - 1, 0] = self.s[:, k]
            out[:, 0, p - 1] = self.s[:, k]
        return out

    def to_touchstone(self, path: str | os.PathLike) -> str:
        """Write ``path`` (extension .s<n>p is added if missing); returns the path written."""
        n = self.n_ports
        path = os.fspath(path)
        if not path.lower().endswith(f".s{n}p"):
            path += f".s{n}p"
        s = self.s_matrix()
        lines = [f"! simhw measurement of config {self.config_hash}",
                 f"! timestamp {self.timestamp}",
                 "! measured: " + ", ".join(f"S{p}1" for p in self.receive_ports) + " (S1p by reciprocity; others 0)"]
        lines += [f"! {k} = {v}" for k, v in sorted(self.settings.items())]
        lines.append("# HZ S RI R 50")
        for f, m in zip(self.frequencies, s):
            # Touchstone 1.1: 2-port data is column-major (S11 S21 S12 S22); other sizes row by row
            order = m.T.reshape(-1) if n == 2 else m.reshape(-1)
            vals = [f"{x:.12e}" for c in order for x in (c.real, c.imag)]
            if n <= 2:
                lines.append(f"{f:.6f} " + " ".join(vals))
            else:
                for row in range(n):
                    chunk = vals[2 * n * row: 2 * n * (row + 1)]
                    for i in range(0, len(chunk), 8):
                        prefix = f"{f:.6f} " if row == 0 and i == 0 else "  "
                        lines.append(prefix + " ".join(chunk[i:i + 8]))
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return path
