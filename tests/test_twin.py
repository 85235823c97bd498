"""The differentiable twin (calibration/twin.py): on numpy it is ``predict``; on JAX its autodiff gradient
of a port-power loss is simhw's hand-written one (``vjp`` of the cascade and of the multiport network)."""

import numpy as np
import pytest
from model_helpers import BITS, FAMILIES, family_model

from simhw.physics.losses import port_power


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


@pytest.mark.parametrize("family", FAMILIES)
def test_the_twin_keeps_to_the_array_api_standard(family):
    """On array-api-strict (the standard and nothing more), as other libraries' namespaces will see it."""
    xps = pytest.importorskip("array_api_strict")
    model = family_model(family)
    codes = np.random.default_rng(4).integers(0, 1 << BITS, (3, model.cascade.n_layers, model.cascade.n_atoms))
    theta, amp = model.applied(codes, BITS)
    got = model.twin(xps)(xps.asarray(theta), None if amp is None else xps.asarray(amp))
    expected = model.predict(codes, BITS)
    assert np.max(np.abs(np.asarray(got) - expected)) / np.max(np.abs(expected)) < 1e-12


def test_with_strongly_reflecting_faces_the_twin_is_the_exact_network_solve():
    """predict solves the network by stage sweeps to a relative change of 1e-10 (a direct solve where they stall),
    which with faces reflecting 0.15 leaves it ~1e-12 from the exact solution: the twin's dense solve is
    compared with the exact block elimination there."""
    model = family_model("multiport", reflection=0.15)
    codes = np.random.default_rng(4).integers(0, 1 << BITS, (6, model.cascade.n_layers, model.cascade.n_atoms))
    theta, amp = model.applied(codes, BITS)
    net = model.model()
    t = np.exp(1j * theta) * amp
    exact = (net.w_out[None] @ (t[:, None, -1, :, None] * net.solve(t, method="direct").b_in[:, :, -1]))[..., 0]
    exact = exact + model.leakage[None]
    got = model.twin(np)(theta, amp)
    assert np.max(np.abs(got - exact)) / np.max(np.abs(exact)) < 1e-12
    assert np.max(np.abs(model.predict(codes, BITS) - exact)) / np.max(np.abs(exact)) < 1e-10


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
