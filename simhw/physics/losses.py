"""Real-valued losses of an end-to-end response H with their complex gradients.

Each loss is a callable ``loss(H) -> (value, g)`` with g = dL/dRe(H) + 1j dL/dIm(H), the form
:meth:`simhw.physics.model.SIMModel.value_and_grad` consumes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse_to_target", "port_power", "weighted_linear"]


def mse_to_target(target) -> callable:
    """L = sum |H - T|^2 / sum |T|^2 (normalised squared error to a target response)."""
    target = np.asarray(target)
    scale = float(np.sum(np.abs(target) ** 2)) or 1.0

    def loss(h):
        diff = h - target
        return float(np.sum(np.abs(diff) ** 2)) / scale, 2.0 * diff / scale

    return loss


def port_power(output: int, input_: int = 0, maximise: bool = True) -> callable:
    """L = -sum |H[..., output, input]|^2 (or +, to minimise leakage) over batch and frequency."""
    sign = -1.0 if maximise else 1.0

    def loss(h):
        g = np.zeros_like(h)
        sel = h[..., output, input_]
        g[..., output, input_] = 2.0 * sign * sel
        return sign * float(np.sum(np.abs(sel) ** 2)), g

    return loss


def weighted_linear(weights) -> callable:
    """L = Re(sum conj(W) * H): a linear probe, handy for checking gradients."""
    weights = np.asarray(weights)

    def loss(h):
        return float(np.real(np.sum(np.conj(weights) * h))), weights.astype(h.dtype, copy=True)

    return loss
