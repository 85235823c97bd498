"""The differentiable twin (calibration/twin.py): on numpy it is ``predict``; on JAX its autodiff gradient
of a port-power loss is simhw's hand-written one (``vjp`` of the cascade and of the multiport network)."""

import numpy as np
import pytest

from calibration.calibrated import CalibratedModel
from simhw.physics.geometry import SimGeometry
from simhw.physics.losses import port_power
from simhw.physics.multiport.network import from_cascade
from simhw.physics.propagation import Cascade, cascade_matrices

BITS = 2


def small_geometry(layers=3, side=3, freqs=(27.8e9, 28.0e9, 28.2e9), outputs=2):
    g = SimGeometry.uniform(layers, side, side, frequency=28e9, thickness=0.008, n_inputs=1, n_outputs=outputs)
    return g.with_frequencies(np.asarray(freqs))


def family_model(family: str, seed: int = 0) -> CalibratedModel:
    """A model with every block the named family's calibration returns, with drawn values: the cascade
    families (``physical`` nominal atoms; ``hybrid`` one code-level table; ``free`` a perturbed cascade)
    and ``multiport`` (faces, one level table per atom), each with leakage."""
    rng = np.random.default_rng(seed)
    g = small_geometry()
    c = cascade_matrices(g)
    F, P = c.w_out.shape[:2]
    L, N, K = g.n_layers, g.n_atoms, 1 << BITS
    leak = 1e-3 * (rng.normal(size=(F, P)) + 1j * rng.normal(size=(F, P)))
    table = np.exp(rng.normal(0, 0.1, K) + 1j * rng.normal(0, 0.3, K))
    faces = atom_tables = None
    if family in ("free", "multiport"):  # fitted gaps: no longer the symmetric ideal ones
        c = Cascade(c.w_in, c.w_layers * (1 + 0.1 * rng.normal(size=c.w_layers.shape)), c.w_out, c.frequencies)
    if family == "free":
        table = None
    elif family == "physical":
        table = None
    elif family == "multiport":
        faces = np.stack([from_cascade(c, 0, 0.15, 0.04, band=3).face] * L)
        atom_tables = np.exp(rng.normal(0, 0.1, (L, N, K)) + 1j * rng.normal(0, 0.3, (L, N, K)))
    return CalibratedModel(c, np.zeros(3), family, {}, atom_response=atom_tables if faces is not None else table,
                           leakage=leak, faces=faces)


FAMILIES = ("physical", "hybrid", "free", "multiport")


@pytest.mark.parametrize("family", FAMILIES)
def test_on_numpy_the_twin_is_predict(family):
    model = family_model(family)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 1 << BITS, (5, model.cascade.n_layers, model.cascade.n_atoms))
    expected = model.predict(codes, BITS)
    got = model.twin(np)(*model.applied(codes, BITS))
    assert got.shape == expected.shape == (5, 3, 2)
    err = np.max(np.abs(got - expected)) / np.max(np.abs(expected))
    assert err < 1e-12, err
    one = model.twin(np)(*[None if a is None else a[2] for a in model.applied(codes, BITS)])
    assert np.max(np.abs(one - expected[2])) / np.max(np.abs(expected)) < 1e-12


def test_the_twin_refuses_phases_of_another_shape():
    with pytest.raises(ValueError, match=r"phases must be \(L, N\) = \(3, 9\)"):
        family_model("hybrid").twin(np)(np.zeros((2, 4, 9)))


@pytest.mark.parametrize("family", FAMILIES)
def test_jax_gradient_of_a_port_power_loss_is_the_analytic_gradient(family):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    model = family_model(family, seed=2)
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * np.pi, (4, model.cascade.n_layers, model.cascade.n_atoms))
    amp = rng.uniform(0.7, 1.0, theta.shape)
    h = model.twin(jnp)
    port = 1

    def loss(th):
        return -jnp.sum(jnp.abs(h(th, amp)[..., port]) ** 2)

    value, grad = jax.value_and_grad(loss)(jnp.asarray(theta))
    # simhw's own: the loss on the model's (B, F, P, M) response (leakage as the offset), pulled back by vjp
    sim = model.model()
    response = sim.response(theta, amp) + model.offset[None]
    expected_value, g_h = port_power(port)(response)
    expected, _ = sim.vjp(theta, g_h, amp)
    assert abs(float(value) - expected_value) <= 1e-12 * abs(expected_value)
    err = np.max(np.abs(np.asarray(grad) - expected)) / np.max(np.abs(expected))
    assert err < 1e-9, err
