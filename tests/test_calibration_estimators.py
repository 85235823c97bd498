"""Codebook and learned estimators, and the pilot designs, on the model path."""

import numpy as np
import pytest

from calibration.codebook import CodebookEstimator
from calibration.data import CalibrationData
from calibration.learned import LearnedEstimator
from calibration.metrics import truth_metrics
from calibration.parameterization import make_parameterization
from calibration.pilots import _jacobian, balanced_pilots, d_optimal_pilots, pilot_design, random_pilots
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.physics.model import SIMModel
from simhw.physics.propagation import cascade_matrices

BOUNDS = FabricationErrors.paper(0.0107, scale=5.0)


def scenario(slots=80, codes=None, snr_db=None, seed=4, bounds=BOUNDS):
    ideal = SimGeometry.uniform(3, 4, 4, 28e9, 0.01, n_outputs=3, input_distance=0.05)
    truth = ideal.with_errors(bounds, seed=seed)
    codes = random_pilots(slots, 3, 16, 2, seed=1) if codes is None else codes
    y = SIMModel(cascade_matrices(truth)).response(codes * np.pi / 2)[..., 0]
    if snr_db is not None:
        rng = np.random.default_rng(9)
        s = np.sqrt(np.mean(np.abs(y) ** 2) / 10 ** (snr_db / 10))
        y = y + s / np.sqrt(2) * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
    return ideal, truth, CalibrationData.from_codes(codes, 2, y, ideal.frequencies)


def gain_db(ideal, truth, fit):
    ct = cascade_matrices(truth)
    return truth_metrics(cascade_matrices(ideal), ct).average - truth_metrics(fit.cascade, ct).average


def test_codebook_search_recovers_the_errors_and_deeper_is_better():
    ideal, truth, data = scenario()
    par = make_parameterization("physical", ideal)
    shallow = CodebookEstimator(par, BOUNDS, levels=1).fit(data)
    deep = CodebookEstimator(par, BOUNDS, levels=8).fit(data)
    assert deep.iterations == 8 and shallow.iterations == 1
    assert deep.nmse_db < shallow.nmse_db - 5
    assert gain_db(ideal, truth, deep) > 15
    budgeted = CodebookEstimator(par, BOUNDS, levels=50, time_budget=0.0).fit(data)
    assert budgeted.iterations == 0  # no time: no level searched, the start is returned
    with pytest.raises(ValueError, match="physical parameters"):
        CodebookEstimator(make_parameterization("free", ideal), BOUNDS)


def test_learned_estimator_pretrains_offline_and_fine_tunes_online():
    wide = BOUNDS.scaled(8.0)  # errors large enough that one linear map over the whole box is coarse
    ideal, truth, _ = scenario(bounds=wide)
    par = make_parameterization("physical", ideal)
    pilots = random_pilots(120, 3, 16, 2, seed=2)
    est = LearnedEstimator(par, wide, pilots, 2, snr_db=40, samples=600, rounds=0, seed=0)
    _, _, data = scenario(codes=pilots[:60], snr_db=40, bounds=wide)
    pre = est.fit(data)
    est.rounds = 3
    tuned = est.fit(data)
    assert gain_db(ideal, truth, pre) > 5
    assert tuned.nmse_db < pre.nmse_db - 10
    assert gain_db(ideal, truth, tuned) > gain_db(ideal, truth, pre) + 10
    with pytest.raises(ValueError, match="its own 120 pilot"):
        est.fit(scenario(codes=random_pilots(10, 3, 16, 2, seed=3))[2])


def test_balanced_design_visits_every_level_equally_per_block():
    codes = balanced_pilots(12, 2, 5, 2, seed=0)
    for block in codes.reshape(3, 4, 2, 5):
        assert np.all(np.sort(block, axis=0) == np.arange(4)[:, None, None])


def test_d_optimal_design_is_better_conditioned_than_random():
    ideal, truth, _ = scenario()
    par = make_parameterization("physical", ideal)
    chosen = d_optimal_pilots(20, par, 2, pool=300, seed=0)
    rand = random_pilots(20, 3, 16, 2, seed=0)

    def logdet(codes):
        j = _jacobian(par, par.initial(), codes * np.pi / 2, ideal.frequencies)
        return np.linalg.slogdet(np.einsum("cmi,cmj->ij", j, j))[1]

    assert logdet(chosen) > logdet(rand) + 1.0
    with pytest.raises(ValueError, match="unknown pilot design"):
        pilot_design("sobol", 5, par, 2)
