"""The calibrated model's forward pass written once against the Python array API standard.

:meth:`calibration.calibrated.CalibratedModel.twin` returns :func:`twin` for a model: a function
``h(theta, amplitude=None)`` from phases (T, L, N) or (L, N) to the responses (T, F, P) or (F, P)
of the test antenna to every receiver, leakage included. The same code runs on numpy, JAX and
PyTorch arrays (through ``array-api-compat``), so their automatic differentiation differentiates
the calibrated model. With the phases and amplitudes :meth:`CalibratedModel.applied` gives for
board codes it computes what :meth:`CalibratedModel.predict` computes.

Two forms, as the model has them:

- a cascade (the ``physical``, ``hybrid`` and ``free`` families): y = W_out Phi_L W_L ... Phi_1 W_in,
  Phi_l = diag(a_l exp(1j theta_l));
- a multiport network (``multiport``, the model has faces): the exact block elimination over the stages
  that :meth:`simhw.physics.multiport.batched.NetworkModel.solve` uses where its sweeps stall
  (:func:`~simhw.physics.multiport.batched.solve_stages`, given ``xp``), and y = W_out t_L b_in_L
  (``predict`` sweeps to a relative change of 1e-10; this solve is exact).

Indexing keeps to the standard (no implicit trailing axes), so ``array_api_strict`` runs it too.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from simhw.physics.multiport.batched import solve_stages

__all__ = ["twin"]


def twin(model, xp):
    """The forward pass of a :class:`~calibration.calibrated.CalibratedModel` on ``xp``'s arrays.

    ``xp``: an array namespace (``numpy``, ``jax.numpy``, ``torch``, or an ``array_api_compat`` one).
    Returns ``h(theta, amplitude=None)``; the model's matrices become ``xp`` arrays once, here.
    """
    xp = array_api_compat.array_namespace(xp.asarray(0.0))
    c = model.cascade
    const = lambda a: xp.asarray(np.ascontiguousarray(a, dtype=complex))  # noqa: E731
    w_in, w_out = const(c.w_in[..., 0]), const(c.w_out)  # one feed: (F, N)
    w_layers = [const(w) for w in c.w_layers]
    leakage = None if model.leakage is None else const(model.leakage)
    if model.faces is not None:
        L, N = c.n_layers, c.n_atoms
        faces = const(model.model().faces_per_frequency())  # (L, F, N, N)
        gaps = const(c.w_layers)  # (L-1, F, N, N)
        gaps_t = const(np.swapaxes(c.w_layers, -1, -2))
        feed_rhs = xp.concat([w_in[..., None], xp.zeros((w_in.shape[0], N, 1), dtype=xp.complex128)], axis=-2)

    def transmissions(theta, amplitude):
        t = xp.exp(1j * xp.astype(xp.asarray(theta), xp.complex128))
        return t if amplitude is None else t * xp.astype(xp.asarray(amplitude), xp.complex128)

    def network(t):  # t (T, L, N) -> (T, F, P), as NetworkModel._direct builds the blocks
        T = t.shape[0]
        lt = xp.permute_dims(t, (1, 0, 2))[:, :, None, None, :]  # (L, T, 1, 1, N): column scaling by t_l
        face_t = faces[:, None, ...] * lt
        lo = -gaps[:, None, ...] * lt[:-1, ...]
        up = -gaps_t[:, None, ...] * lt[1:, ...]
        zero = xp.zeros((T, *feed_rhs.shape), dtype=xp.complex128)
        rhs = xp.stack([xp.broadcast_to(feed_rhs[None, ...], zero.shape)] + [zero] * (L - 1))
        b_in_last = solve_stages(face_t, lo, up, rhs, xp)[L - 1, ..., :N, 0]  # (T, F, N)
        return xp.matmul(w_out[None, ...], (b_in_last * t[:, None, L - 1, :])[..., None])[..., 0]

    def cascade(t):
        u = t[:, None, 0, :] * w_in[None, ...]  # the field leaving layer 1, (T, F, N)
        for l, w in enumerate(w_layers):
            u = t[:, None, l + 1, :] * xp.matmul(w[None, ...], u[..., None])[..., 0]
        return xp.matmul(w_out[None, ...], u[..., None])[..., 0]

    def h(theta, amplitude=None):
        t = transmissions(theta, amplitude)
        single = t.ndim == 2
        if single:
            t = t[None, ...]
        if tuple(t.shape[1:]) != (c.n_layers, c.n_atoms):
            raise ValueError(
                f"phases must be (L, N) = ({c.n_layers}, {c.n_atoms}) or a batch of them, got {tuple(t.shape)}"
            )
        y = network(t) if model.faces is not None else cascade(t)
        if leakage is not None:
            y = y + leakage[None, ...]
        return y[0, ...] if single else y

    return h
