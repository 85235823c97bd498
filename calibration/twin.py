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
- a multiport network (``multiport``, the model has faces): one dense solve per configuration and
  frequency of M z = r, M = I - S Theta over every cell port [in_1, out_1, ..., in_L, out_L], where
  S holds the faces (in_l <-> out_l of stage l), the gaps (in_(l+1) <- in_l through W_l, out_l <-
  out_(l+1) through W_l^T), Theta the cells' transmissions on both their ports, r the feed on in_1,
  and y = W_out t_L z[in_L] (simhw.physics.multiport.batched solves the same network by stage sweeps to a
  relative change of 1e-10, exactly where they stall; this dense solve is exact).

Indexing keeps to the standard (no implicit trailing axes), so ``array_api_strict`` runs it too.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

__all__ = ["twin", "scattering_matrix"]


def scattering_matrix(w_in: np.ndarray, w_layers: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 2LN, 2LN) S of the network form: which cell port's emitted wave reaches which port."""
    F, N, _ = w_in.shape
    L = w_layers.shape[0] + 1
    faces = np.asarray(faces, complex)
    faces = faces if faces.ndim == 4 else np.broadcast_to(faces[:, None], (L, F, N, N))
    s = np.zeros((F, 2 * L, N, 2 * L, N), complex)
    for l in range(L):
        s[:, 2 * l, :, 2 * l + 1, :] = faces[l]  # in_l <- a_in_l (emitted back through the input face)
        s[:, 2 * l + 1, :, 2 * l, :] = faces[l]  # out_l <- a_out_l
        if l < L - 1:
            s[:, 2 * (l + 1), :, 2 * l, :] = w_layers[l]  # in_(l+1) <- a_out_l
            s[:, 2 * l + 1, :, 2 * (l + 1) + 1, :] = np.swapaxes(w_layers[l], -1, -2)  # out_l <- a_in_(l+1)
    return s.reshape(F, 2 * L * N, 2 * L * N)


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
        s = const(scattering_matrix(c.w_in, c.w_layers, model.faces))
        eye = xp.eye(2 * L * N, dtype=xp.complex128)
        feed = xp.concat([w_in, xp.zeros((w_in.shape[0], (2 * L - 1) * N), dtype=xp.complex128)], axis=-1)

    def transmissions(theta, amplitude):
        t = xp.exp(1j * xp.astype(xp.asarray(theta), xp.complex128))
        return t if amplitude is None else t * xp.astype(xp.asarray(amplitude), xp.complex128)

    def network(t):  # t (T, L, N) -> (T, F, P)
        T = t.shape[0]
        ports = xp.reshape(xp.stack([t, t], axis=2), (T, 1, 1, -1))  # Theta on [in_l, out_l] of every stage
        m = eye - s[None, ...] * ports
        z = xp.linalg.solve(m, xp.broadcast_to(feed[None, :, :, None], (T, *feed.shape, 1)))[..., 0]
        n = t.shape[-1]
        last = z[..., (2 * t.shape[1] - 2) * n:(2 * t.shape[1] - 1) * n] * t[:, None, -1, :]
        return xp.matmul(w_out[None, ...], last[..., None])[..., 0]

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
            raise ValueError(f"phases must be (L, N) = ({c.n_layers}, {c.n_atoms}) or a batch of them, "
                             f"got {tuple(t.shape)}")
        y = network(t) if model.faces is not None else cascade(t)
        if leakage is not None:
            y = y + leakage[None, ...]
        return y[0, ...] if single else y

    return h
