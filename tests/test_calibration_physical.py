import numpy as np

from calibration.physical import PhysicalParameterization
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.losses import mse_to_target
from simhw.physics.model import SIMModel
from simhw.physics.propagation import cascade_matrices


def geometry():
    return SimGeometry.uniform(3, 3, 3, 28e9, 0.008, n_inputs=1, n_outputs=2, frequencies=[27.8e9, 28.2e9])


def test_matrices_equal_the_perturbed_geometry():
    g = geometry()
    par = PhysicalParameterization(g)
    p = np.random.default_rng(0).uniform(-1, 1, par.n_params) * par.scale
    c, _ = par.cascade_and_vjp(p)
    ref = cascade_matrices(g.with_errors(None, draw=par.draw(p)))
    for a, b in ((c.w_in, ref.w_in), (c.w_layers, ref.w_layers), (c.w_out, ref.w_out)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.all(par.params_of(par.draw(p)) == p)


def test_physical_gradient_matches_central_differences():
    g = geometry()
    par = PhysicalParameterization(g)
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * np.pi, (6, 3, 9))
    truth = g.with_errors(FabricationErrors.paper(0.0107, scale=5.0), seed=2)
    target = SIMModel.from_geometry(truth).response(theta)
    loss = mse_to_target(target)
    p0 = rng.uniform(-1, 1, par.n_params) * par.scale

    def value(p):
        return loss(SIMModel(par.cascade(p)).response(theta))[0]

    cascade, vjp = par.cascade_and_vjp(p0)
    model = SIMModel(cascade)
    grad = vjp(*model.matrix_vjp(theta, loss(model.response(theta))[1]))
    fd = np.empty_like(grad)
    for i in range(par.n_params):
        h = 1e-4 * par.scale[i]
        e = np.zeros_like(p0)
        e[i] = h
        fd[i] = (value(p0 + e) - value(p0 - e)) / (2 * h)
    rel = np.abs(grad - fd) / (np.abs(fd) + 1e-6 * np.abs(fd).max())
    assert np.linalg.norm(grad - fd) / np.linalg.norm(fd) < 1e-5, (grad, fd, rel)
