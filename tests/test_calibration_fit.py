import numpy as np
import pytest

from calibration.estimators import CalibrationData, fit_physical, nmse_db, solve_channel
from calibration.physical import PhysicalParameterization
from simhw.geometry import FabricationErrors, SimGeometry
from simhw.model import SIMModel
from simhw.propagation import cascade_matrices


def setup(slots=60, seed=0):
    ideal = SimGeometry.uniform(3, 3, 3, 28e9, 0.008, n_inputs=1, n_outputs=3, input_distance=0.05)
    truth = ideal.with_errors(FabricationErrors.paper(0.0107, scale=5.0), seed=4)
    rng = np.random.default_rng(seed)
    theta = rng.integers(0, 4, (slots, 3, 9)) * np.pi / 2
    y = SIMModel(cascade_matrices(truth)).response(theta)[..., 0]
    return ideal, truth, CalibrationData(theta, y, ideal.frequencies)


def test_noise_free_data_recover_the_injected_errors():
    ideal, truth, data = setup()
    par = PhysicalParameterization(ideal)
    fit = fit_physical(par, data, max_iter=200)
    ct = cascade_matrices(truth)
    ci = cascade_matrices(ideal)
    for l in range(2):
        before, after = nmse_db(ci.w_layers[l], ct.w_layers[l]), nmse_db(fit.cascade.w_layers[l], ct.w_layers[l])
        assert after < before - 20 and after < -60, (l, before, after)
    assert nmse_db(fit.channel, ct.w_in[..., 0]) < -60
    assert fit.nmse_db < -80
    np.testing.assert_allclose(fit.params, par.params_of(truth.errors), atol=1e-3 * par.scale.max())


def test_channel_least_squares_is_exact_without_noise():
    ideal, truth, data = setup()
    ct = cascade_matrices(truth)
    g = SIMModel(ct, convention="uplink").response(data.theta)
    np.testing.assert_allclose(solve_channel(g, data.y, ridge=0.0), ct.w_in[..., 0], rtol=1e-8)


def test_unusable_inputs_are_clear_errors():
    ideal, truth, data = setup(slots=60)
    par = PhysicalParameterization(ideal)
    with pytest.raises(ValueError, match="measure more slots"):
        fit_physical(par, data.take(slice(0, 2)))
    bad = data.y.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CalibrationData(data.theta, bad, data.frequencies)
    with pytest.raises(ValueError, match="same T"):
        CalibrationData(data.theta[:5], data.y, data.frequencies)
    with pytest.raises(ValueError, match="expected 9 physical parameters"):
        par.draw(np.zeros(4))
