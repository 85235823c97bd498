"""Trainers and objectives: analytic gradients against central differences, the papers' trends on
small instances, hardware-aware quantization, clear errors."""

import numpy as np
import pytest

from simhw.designs.training import Focus, MultiUserSeparation, TrainingError, TrainOptions, train
from simhw.designs.training.evaluation import ser_and_rate
from simhw.designs.training.scenarios import isac_scenario, select_antennas, separation_scenario
from simhw.physics.impairments import quantize_phases
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig


def central_difference(objective, theta, samples=None, h=1e-6, picks=12, seed=0, fn=None):
    rng = np.random.default_rng(seed)
    fn = fn or (lambda th: objective.loss_and_grad(th, samples)[0])
    out = []
    for _ in range(picks):
        layer, atom = rng.integers(theta.shape[0]), rng.integers(theta.shape[1])
        tp, tm = theta.copy(), theta.copy()
        tp[layer, atom] += h
        tm[layer, atom] -= h
        out.append(((layer, atom), (fn(tp) - fn(tm)) / (2 * h)))
    return out


def assert_gradient(objective, theta, samples=None, grad=None, fn=None):
    grad = objective.loss_and_grad(theta, samples)[1] if grad is None else grad
    for (layer, atom), fd in central_difference(objective, theta, samples, fn=fn):
        assert grad[layer, atom] == pytest.approx(fd, rel=1e-5, abs=1e-7 * max(1.0, np.max(np.abs(grad))))


@pytest.mark.parametrize("aware", [False, True])
def test_separation_gradient_matches_central_differences(aware):
    sc = separation_scenario(n_side=4, layers=3, users=3, pilots=16, seed=2, jamming_aware=aware)
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, (3, 16))
    assert_gradient(sc.objective, theta)
    assert_gradient(sc.objective, theta, samples=np.array([1, 4, 7, 9]))  # a mini-batch of pilots


def test_isac_gradients_match_central_differences():
    sc = isac_scenario(n_side=4, layers=3, users=2, targets=1, seed=3, weights=(0.3, 0.7))
    obj = sc.objective
    theta = np.random.default_rng(2).uniform(0, 2 * np.pi, (3, 16))
    assert_gradient(obj, theta)
    comps = obj.component_grads(theta)
    for _idx, name in enumerate(obj.components):
        assert_gradient(obj, theta, grad=comps[name][1], fn=lambda th, n=name: obj.component_grads(th)[n][0])
    ws, wc = obj.weights
    assert obj.loss_and_grad(theta)[0] == pytest.approx(ws * comps["sensing"][0] + wc * comps["communication"][0])


def test_focus_gradient_matches_central_differences_over_frequencies():
    cfg = BenchConfig()
    cfg.geometry.layers, cfg.geometry.rows, cfg.geometry.cols, cfg.geometry.receive_ports = 3, 3, 3, 2
    model = SIMModel.from_geometry(cfg.geometry.build(np.array([27.5e9, 28e9, 28.5e9])))
    obj = Focus(model, output=1)
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, (3, 9))
    assert_gradient(obj, theta)
    assert obj.metrics(theta)["gain_db"] == pytest.approx(-obj.loss_and_grad(theta)[0])
    contrast = Focus(model, output=1, suppress=(0,), cap_db=10.0)  # a null toward port 0, saturating at 10 dB
    assert_gradient(contrast, theta)
    m = contrast.metrics(theta)
    assert m["capped_contrast_db"] == pytest.approx(-contrast.loss_and_grad(theta)[0])
    ratio = 10 ** (m["contrast_db"] / 10)
    assert m["capped_contrast_db"] == pytest.approx(10 * np.log10(1 / (1 / ratio + 0.1)))


def test_constellation_mse_falls_by_orders_of_magnitude_with_more_atoms():
    opts = TrainOptions(episodes=300, eta0=0.8, beta=0.995, step="raw")
    mse = {
        n: train(separation_scenario(n_side=n, seed=0).objective, opts).metrics["constellation_mse"] for n in (5, 7)
    }  # K = 4, L = 5, N = 25 and 49
    assert mse[7] < 1e-2 * mse[5], mse  # at least two orders of magnitude


def test_jamming_aware_training_beats_agnostic_and_six_bits_approach_continuous():
    opts = TrainOptions(episodes=300, eta0=0.8, beta=0.995, step="raw")
    agnostic = separation_scenario(n_side=6, seed=1, with_jammer_channel=True)
    aware = separation_scenario(n_side=6, seed=1, jamming_aware=True)
    ra, rw = train(agnostic.objective, opts), train(aware.objective, opts)
    hj = agnostic.jammer_channel
    snrs = [10, 20]
    ser_agnostic = ser_and_rate(agnostic.objective, ra.theta, snrs, jammer_channel=hj)["ser"]
    ser_aware = ser_and_rate(agnostic.objective, rw.theta, snrs, jammer_channel=hj)["ser"]
    assert ser_agnostic[1] > 0.01 and ser_aware[1] < 0.1 * ser_agnostic[1], (ser_agnostic, ser_aware)
    assert rw.metrics["jammer_leakage_db"] < -30
    ser_bits = {
        b: ser_and_rate(agnostic.objective, quantize_phases(rw.theta, b), snrs, jammer_channel=hj)["ser"][1]
        for b in (2, 6)
    }
    assert ser_bits[2] > 0.1 and ser_bits[6] <= ser_aware[1] + 0.01, ser_bits


def test_isac_weights_trade_sum_rate_against_beam_matching_and_the_beam_hits_the_targets():
    out = {}
    for ws in (0.0, 1.0):
        sc = isac_scenario(n_side=8, layers=3, seed=0, weights=(ws, 1 - ws))
        r = train(
            sc.objective, TrainOptions(method="dngd", episodes=40, eta0=0.5, beta=0.95, starts=2, weights=(ws, 1 - ws))
        )
        out[ws] = r.metrics
        if ws == 1.0:
            pat = sc.objective.pattern(r.theta)
            assert sc.objective.desired[np.argmax(pat)] == 1.0  # the pattern peaks inside a target region
    assert out[0.0]["sum_rate"] > out[1.0]["sum_rate"] + 3
    assert out[1.0]["beam_mse"] < out[0.0]["beam_mse"]


def test_quantized_result_is_evaluated_and_polish_never_hurts():
    sc = separation_scenario(n_side=4, layers=3, users=2, seed=5)
    plain = train(sc.objective, TrainOptions(episodes=100, step="raw", bits=2, polish=False))
    polished = train(sc.objective, TrainOptions(episodes=100, step="raw", bits=2, polish=True))
    assert np.array_equal(plain.codes, np.mod(np.rint(plain.theta / (np.pi / 2)), 4))
    assert plain.loss_quantized > plain.loss  # 2-bit phases cost accuracy
    assert polished.loss_quantized <= plain.loss_quantized + 1e-12
    cfg = polished.config((4, 4), name="sep")
    assert cfg.bits == 2 and cfg.shape == (3, 4, 4) and np.array_equal(cfg.codes.reshape(3, 16), polished.codes)


def test_training_is_seeded_and_keeps_the_best_start():
    sc = separation_scenario(n_side=4, layers=3, users=2, seed=6)
    o = TrainOptions(episodes=30, starts=3, seed=11, step="raw")
    a, b = train(sc.objective, o), train(sc.objective, o)
    assert np.array_equal(a.theta, b.theta) and a.loss == min(a.start_losses)
    stopped = train(sc.objective, TrainOptions(episodes=500, tol=1e-3, step="raw"))
    assert stopped.episodes < 500


def test_impossible_requests_raise_clear_errors():
    with pytest.raises(TrainingError, match="5 users need at least 5 BS antennas"):
        separation_scenario(users=5, bs_antennas=4)
    sc = separation_scenario(n_side=4, layers=3, users=2, seed=0)
    o = sc.objective
    with pytest.raises(TrainingError, match="5 users need 5 BS antennas, the model has 4"):
        MultiUserSeparation(o.model, np.ones((16, 5)), [0, 1, 2, 3, 4], np.ones((8, 5)))
    with pytest.raises(TrainingError, match="channels have 9 rows"):
        MultiUserSeparation(o.model, np.ones((9, 2)), [0, 1], o.pilots)
    with pytest.raises(TrainingError, match="unknown method"):
        train(o, TrainOptions(method="adam"))
    with pytest.raises(TrainingError, match="DNGD needs an objective with two components"):
        train(o, TrainOptions(method="dngd"))
    with pytest.raises(TrainingError, match="needs an end-to-end model"):
        Focus(o.model)
    assert list(select_antennas(8, 4)) == [0, 2, 5, 7]


def test_training_guide_examples_run():
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "training.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), ns)
    assert ns["config"].shape == (5, 6, 6) and ns["config"].bits == 6


def test_focusing_on_a_point_concentrates_power_there():
    from simhw.designs.training.scenarios import focus_point_model

    geom = BenchConfig().geometry.build()
    z = geom.layer_z[-1] + 0.02
    obj = Focus(focus_point_model(geom, (0.004, -0.003, z)))
    r = train(obj, TrainOptions(episodes=100, eta0=0.5, update="joint", starts=2, bits=2))
    rng = np.random.default_rng(0)
    random_gain = np.median([obj.metrics(rng.uniform(0, 2 * np.pi, (4, 36)))["gain_db"] for _ in range(50)])
    assert r.metrics_quantized["gain_db"] > random_gain + 10  # coherent focusing beats a random configuration
    off_axis = Focus(focus_point_model(geom, (0.03, 0.0, z)))  # the same config seen from elsewhere
    th = obj.applied(r.codes[None], 2)[0][0]
    assert off_axis.metrics(th)["gain_db"] < r.metrics_quantized["gain_db"] - 6
    with pytest.raises(TrainingError, match="beyond the last layer"):
        focus_point_model(geom, (0, 0, 0.0))


def test_gradients_hold_with_coupling_and_training_on_an_impaired_model_is_robust():
    from simhw.physics.impairments import Impairments

    imp = Impairments(coupling=0.05)
    sc = separation_scenario(n_side=4, layers=3, users=2, pilots=16, seed=8, impairments=imp)
    theta = np.random.default_rng(3).uniform(0, 2 * np.pi, (3, 16))
    assert_gradient(sc.objective, theta)
    plain = separation_scenario(n_side=4, layers=3, users=2, pilots=16, seed=8)
    o = TrainOptions(episodes=200, step="raw", eta0=0.8, beta=0.995)
    aware, unaware = train(sc.objective, o), train(plain.objective, o)
    # judged on the coupled SIM, the coupling-aware configuration separates the users better
    assert sc.objective.metrics(aware.theta)["loss"] < sc.objective.metrics(unaware.theta)["loss"]
