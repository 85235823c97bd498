"""The base of every parameterization: a map x -> Cascade around an ideal geometry, with its VJP.

Seed 002, section III: the interlayer propagation is written as a function of parameters x, fitted
to end-to-end measurements; :mod:`calibration.physical` and :mod:`calibration.parameterization`
build on this class.
"""

from __future__ import annotations

import numpy as np

from calibration.receivers import RECEIVERS
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.propagation import Cascade

__all__ = ["CHANNELS", "Parameterization"]

CHANNELS = ("physical", "free")


class Parameterization:
    """Base class: a map x -> Cascade around an ideal geometry, with its vector-Jacobian product."""

    name = ""
    levels: int | None = None  # code levels with a fitted atom response (None: nominal exp(1j theta))

    def __init__(self, ideal: SimGeometry, channel: str = "physical", receivers: str = "gain"):
        """``receivers``: the receive terms solved in closed form (:mod:`calibration.receivers`)."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if receivers not in RECEIVERS:
            raise ValueError(f"receivers must be one of {RECEIVERS}, got {receivers!r}")
        if channel == "free" and receivers != "gain":
            raise ValueError(
                f"a free test channel and {receivers} receivers cannot both be solved in closed form: "
                "use receivers='gain' with a free channel, or the physical channel"
            )
        self.ideal = ideal
        self.channel = channel
        self.receivers = receivers
        self.n_params = 0
        self.scale = np.ones(0)

    @property
    def n_identified(self) -> int:
        """Parameters the data alone must determine (those not held by a penalty)."""
        return self.n_params

    def initial(self) -> np.ndarray:
        """The ideal model's parameters (the gradient estimator's starting point)."""
        return np.zeros(self.n_params)

    def check(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        if x.shape != (self.n_params,):
            raise ValueError(f"{self.name} parameterization expects {self.n_params} parameters, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("parameters contain NaN or infinite values")
        return x

    def cascade_and_vjp(self, x, frequencies=None):
        raise NotImplementedError

    def cascade(self, x, frequencies=None) -> Cascade:
        return self.cascade_and_vjp(x, frequencies)[0]

    def penalty(self, x) -> tuple[float, np.ndarray]:
        return 0.0, np.zeros(self.n_params)

    def atom_response(self, x) -> np.ndarray | None:
        return None

    def prior(self, bounds: FabricationErrors) -> np.ndarray:
        """Half-widths of a box around :meth:`initial` that holds every plausible x."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "channel": self.channel, "receivers": self.receivers, "n_params": self.n_params}


def _check_geometry_frequencies(ideal: SimGeometry, frequencies):
    return ideal.frequencies if frequencies is None else np.atleast_1d(np.asarray(frequencies, float))
