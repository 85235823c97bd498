"""The multiport calibration family: the batched network against the reference solver, its analytic
derivatives against central differences, and the fit recovering the terms a bench contains."""

import numpy as np
import pytest

from calibration.data import CalibrationData, nmse_db
from calibration.network import NetworkParameterization
from calibration.network_fit import NetworkObjective, fit_network
from simhw.physics.geometry import SimGeometry
from simhw.physics.model import SIMModel
from simhw.physics.multiport import MultiportSIM
from simhw.physics.multiport.batched import NetworkModel
from simhw.physics.multiport.network import from_cascade
from simhw.physics.propagation import cascade_matrices


def small_geometry(layers=3, side=3, freqs=(27.8e9, 28.2e9), outputs=2):
    g = SimGeometry.uniform(layers, side, side, frequency=28e9, thickness=0.008, n_inputs=1, n_outputs=outputs)
    return g.with_frequencies(np.asarray(freqs))


def test_the_batched_network_equals_the_reference_solver_and_the_cascade_without_faces():
    g = small_geometry()
    c = cascade_matrices(g)
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 2 * np.pi, (4, g.n_layers, g.n_atoms))
    face = from_cascade(c, 0, 0.15, 0.04, band=3).face
    h = NetworkModel.from_cascade(c, np.stack([face] * g.n_layers)).response(theta)
    for f in range(2):
        ref = MultiportSIM(c, 0.15, 0.04, frequency_index=f)
        ref.net.face = face
        for b in range(4):
            np.testing.assert_allclose(h[b, f, :, 0], ref.outputs(theta[b], np.ones((1, 1)))[:, 0], rtol=1e-10)
    h0 = NetworkModel.from_cascade(c, np.zeros((g.n_layers, g.n_atoms, g.n_atoms))).response(theta)
    np.testing.assert_allclose(h0, SIMModel(c).response(theta), rtol=1e-10, atol=1e-16)


def test_the_network_vjp_matches_central_differences():
    g = small_geometry()
    c = cascade_matrices(g)
    rng = np.random.default_rng(1)
    faces = 0.1 * (rng.standard_normal((g.n_layers, g.n_atoms, g.n_atoms)) + 1j * rng.standard_normal((3, 9, 9)))
    faces = faces + faces.swapaxes(1, 2)  # a reciprocal network
    model = NetworkModel.from_cascade(c, faces)
    theta = rng.uniform(0, 2 * np.pi, (2, g.n_layers, g.n_atoms))
    amp = 1 + 0.1 * rng.standard_normal(theta.shape)
    g_h = rng.standard_normal((2, 2, 2, 1)) + 1j * rng.standard_normal((2, 2, 2, 1))

    def loss(th, a):
        return float(np.sum(np.real(np.conj(g_h) * model.response(th, a))))

    gt, ga = model.vjp(theta, g_h, amp)
    eps = 1e-6
    for idx in [(0, 0, 0), (1, 2, 8), (0, 1, 4)]:
        d = np.zeros_like(theta)
        d[idx] = eps
        assert gt[idx] == pytest.approx((loss(theta + d, amp) - loss(theta - d, amp)) / (2 * eps), rel=1e-6, abs=1e-14)
        assert ga[idx] == pytest.approx((loss(theta, amp + d) - loss(theta, amp - d)) / (2 * eps), rel=1e-6, abs=1e-14)


@pytest.mark.parametrize("receivers", ["free", "port", "gain"])
def test_the_multiport_jacobian_matches_central_differences(receivers):
    g = small_geometry()
    par = NetworkParameterization(g, bits=2, receivers=receivers, band=3)
    rng = np.random.default_rng(2)
    x = 0.05 * rng.standard_normal(par.n_params) * par.scale / 0.01
    x[:par.n_physical] = 0.3 * par.physical.scale * rng.standard_normal(par.n_physical)
    codes = rng.integers(0, 4, (30, g.n_layers, g.n_atoms))
    y = rng.standard_normal((30, 2, 2)) + 1j * rng.standard_normal((30, 2, 2))
    data = CalibrationData.from_codes(codes, 2, y, g.frequencies)
    obj = NetworkObjective(par, data)
    state, _ = obj.state(x)
    e = state.out_matrix()
    _, fields = obj.state(x, sources=np.swapaxes(e, 1, 2))
    gain_jvp = None
    if receivers != "free":
        a_last = fields.a_out[:, :, -1, :, 0]
        gg = state.fit.gain if receivers == "port" else state.fit.gain[:, None]
        gain_jvp = lambda d_out: gg[None] * np.einsum("fpn,tfn->tfp", d_out, a_last)  # noqa: E731
    jac = par.jacobian(x, state.blocks, fields, obj.levels, e, gain_jvp)

    def model_y(xx):  # the responses at xx with the receive terms of x held fixed
        blocks = par.blocks(xx, g.frequencies)
        t = par.transmissions(xx, obj.levels, blocks.response)
        a_last = blocks.model.solve(t).a_out[:, :, -1, :, 0]
        w = e if receivers == "free" else (state.fit.gain[..., None] if receivers == "port"
                                            else state.fit.gain[:, None, None]) * blocks.model.w_out
        return np.einsum("fpn,tfn->tfp", w, a_last)

    columns = list(range(par.n_physical)) + list(rng.choice(np.arange(par.n_physical, par.n_params), 25,
                                                             replace=False))
    for j in columns:
        step = 1e-6 * (par.physical.scale[j] if j < par.n_physical else 1.0)
        d = np.zeros(par.n_params)
        d[j] = step
        fd = (model_y(x + d) - model_y(x - d)) / (2 * step)
        np.testing.assert_allclose(jac[..., j], fd, rtol=2e-5, atol=1e-7 * np.max(np.abs(fd)) + 1e-14,
                                   err_msg=f"parameter {j}")


def test_a_network_that_is_not_reciprocal_is_refused():
    g = small_geometry()
    c = cascade_matrices(g)
    faces = np.zeros((g.n_layers, g.n_atoms, g.n_atoms), complex)
    faces[0, 0, 1] = 0.1
    with pytest.raises(ValueError, match="symmetric"):
        NetworkModel.from_cascade(c, faces)
