"""The multiport calibration family: the batched network against the reference solver, its analytic
derivatives against central differences, and the fit recovering the terms a bench contains."""

import numpy as np
import pytest

from calibration.calibrator import Calibrator
from calibration.data import CalibrationData, nmse_db
from calibration.metrics import predicted
from calibration.network import TERMS, NetworkParameterization
from calibration.network_fit import NetworkObjective, fit_network, ridge_path, ridge_scale
from calibration.parameterization import bench_parameterization
from calibration.sources import FunctionSource
from sim_backend.bench import make_truth
from simhw.app.hil import floor_db
from simhw.physics.geometry import SimGeometry
from simhw.physics.model import SIMModel
from simhw.physics.multiport import MultiportSIM
from simhw.physics.multiport.batched import NetworkModel
from simhw.physics.multiport.network import from_cascade
from simhw.physics.propagation import cascade_matrices
from simhw.values.bench_config import BenchConfig


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
    x[: par.n_physical] = 0.3 * par.physical.scale * rng.standard_normal(par.n_physical)
    codes = rng.integers(0, 4, (30, g.n_layers, g.n_atoms))
    y = rng.standard_normal((30, 2, 2)) + 1j * rng.standard_normal((30, 2, 2))
    data = CalibrationData.from_codes(codes, 2, y, g.frequencies)
    obj = NetworkObjective(par, data)
    state, fields, e = obj.solved(x)
    jac_g, jac_c = obj.jacobian_parts(state, fields, e)
    jac = np.concatenate([jac_g, jac_c, 1j * jac_c], axis=-1)  # d y / d Im(z) = 1j d y / d Re(z)

    def model_y(xx):  # the responses at xx with the receive terms of x held fixed
        blocks = par.blocks(xx, g.frequencies)
        t = par.transmissions(xx, obj.levels, blocks.response)
        a_last = blocks.model.solve(t).a_out[:, :, -1, :, 0]
        w = (
            e
            if receivers == "free"
            else (state.fit.gain[..., None] if receivers == "port" else state.fit.gain[:, None, None])
            * blocks.model.w_out
        )
        return np.einsum("fpn,tfn->tfp", w, a_last)

    columns = list(range(par.n_physical)) + list(rng.choice(np.arange(par.n_physical, par.n_params), 25, replace=False))
    for j in columns:
        step = 1e-6 * (par.physical.scale[j] if j < par.n_physical else 1.0)
        d = np.zeros(par.n_params)
        d[j] = step
        fd = (model_y(x + d) - model_y(x - d)) / (2 * step)
        np.testing.assert_allclose(
            jac[..., j], fd, rtol=2e-5, atol=1e-7 * np.max(np.abs(fd)) + 1e-14, err_msg=f"parameter {j}"
        )


def test_a_network_that_is_not_reciprocal_is_refused():
    g = small_geometry()
    c = cascade_matrices(g)
    faces = np.zeros((g.n_layers, g.n_atoms, g.n_atoms), complex)
    faces[0, 0, 1] = 0.1
    with pytest.raises(ValueError, match="symmetric"):
        NetworkModel.from_cascade(c, faces)


# ---------------------------------------------------------------------------- fits on benches with exactly one effect
def small_bench(**simulation):
    """A 3-layer 4x4 2-bit bench at 3 frequencies: the SIM model family and the effects named."""
    cfg = BenchConfig.named("ideal", name="small")
    cfg.geometry.layers, cfg.geometry.rows, cfg.geometry.cols = 3, 4, 4
    cfg.sweep.points = 3
    for k, v in simulation.items():
        setattr(cfg.simulation, k, v)
    return cfg


def bench_data(cfg, slots, seed, snr_db=60.0):
    truth = make_truth(cfg)
    g, f = cfg.geometry, cfg.frequencies()
    codes = np.random.default_rng(seed).integers(0, 1 << g.bits, (slots, g.layers, g.rows * g.cols))
    y = truth.response(codes.reshape(slots, g.layers, g.rows, g.cols), g.bits, f)
    rng = np.random.default_rng(seed + 1)
    sigma = np.sqrt(np.mean(np.abs(y) ** 2) / 10 ** (snr_db / 10))
    y = y + sigma / np.sqrt(2) * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
    return CalibrationData.from_codes(codes, g.bits, y, f), truth


def fitted(cfg, terms, receivers="free", slots=160):
    data, truth = bench_data(cfg, slots, 1)
    test, _ = bench_data(cfg, 40, 7)
    par = NetworkParameterization(
        cfg.geometry.build(cfg.frequencies()), cfg.geometry.bits, receivers=receivers, terms=terms
    )
    fit = fit_network(par, data)
    pred = predicted(fit.cascade, test, fit.atom_response, fit.leakage, fit.faces)
    return par, fit, nmse_db(pred, test.y), truth


MULTIPORT = {"truth_model": "multiport", "reflection": 0.1, "port_coupling": 0.02}


def test_the_faces_are_recovered_on_a_bench_with_exactly_reflections_and_coupling():
    par, fit, test_db, _ = fitted(small_bench(**MULTIPORT), ("face",))
    rho, c = par.part(fit.x, "reflection"), par.part(fit.x, "coupling")
    print(f"\nreflection {np.round(rho, 4)}, coupling {np.round(c[:2], 5)}, test {test_db:.1f} dB")
    np.testing.assert_allclose(rho, 0.1, atol=0.01)
    assert abs(c[0] - 0.02) < 0.004 and abs(c[1] - 0.02**2) < 0.002
    assert test_db < -45


def test_the_feed_weights_follow_the_horn_on_a_bench_with_exactly_a_horn():
    cfg = small_bench(horn_q=15.0)
    par, fit, test_db, truth = fitted(cfg, ("feed",))
    true_feed = truth.model(cfg.frequencies()).cascade.w_in[..., 0]  # (F, N): geometry times the horn's pattern
    est = fit.cascade.w_in[..., 0]
    scale = np.sum(np.conj(est) * true_feed, axis=1) / np.sum(np.abs(est) ** 2, axis=1)  # the receive side's gain
    err = nmse_db(est * scale[:, None], true_feed)
    print(f"\nfeed vector NMSE {err:.1f} dB, test {test_db:.1f} dB")
    assert err < -30 and test_db < -45


def test_each_atoms_code_response_is_recovered_on_a_bench_with_exactly_code_spread():
    cfg = small_bench(code_spread=0.1)
    par, fit, test_db, truth = fitted(cfg, ("codes",), slots=240)
    g = cfg.geometry
    err = truth.effects.code_phase_errors(g.layers, g.rows * g.cols, g.bits)  # (L, N, K) rad
    r = fit.atom_response
    # a common factor per atom over its codes trades with its neighbours' terms: compare code differences
    got = np.angle(r[..., 1:] / r[..., :1])
    want = np.angle(np.exp(1j * (err[..., 1:] - err[..., :1])))
    rms = float(np.sqrt(np.mean((got - want) ** 2)))
    print(
        f"\ncode phase differences: rms error {np.degrees(rms):.2f} deg of a {np.degrees(0.1):.1f} deg spread, "
        f"test {test_db:.1f} dB"
    )
    assert rms < 0.1 * 0.2 and test_db < -45


def test_each_ridge_the_validation_set_weighs_is_solved_to_its_optimum_not_one_step_towards_it():
    """The ridge path re-solves the fit for each weaker ridge: at the point it yields, a further Gauss-Newton
    step on the penalised loss would gain nothing, where one linearised step from the fit (what the path
    used to take) still leaves most of its decrease to make, at a higher loss."""
    cfg = small_bench(**MULTIPORT, code_spread=0.1, horn_q=15.0)
    data, _ = bench_data(cfg, 160, 1)
    par = NetworkParameterization(cfg.geometry.build(cfg.frequencies()), cfg.geometry.bits, receivers="free")
    x = fit_network(par, data).x
    obj = NetworkObjective(par, data)
    h, g = obj.gauss_newton(*obj.solved(x))
    base = ridge_scale(par, h)

    def left_to_gain(xr, w):  # (the next Gauss-Newton step's decrease / loss, loss in dB)
        hr, gr = obj.gauss_newton(*obj.solved(xr))
        grad = gr - w * xr
        loss = obj.state(xr)[0].misfit + float(np.sum(w * xr * xr))
        return float(np.linalg.solve(hr + np.diag(w), grad) @ grad) / loss, 10 * np.log10(loss)

    for factor, xr, _ in ridge_path(par, x, data, (1e-2, 1e-4)):
        w = base * factor
        path, path_db = left_to_gain(xr, w)
        one, one_db = left_to_gain(x + np.linalg.solve(h + np.diag(w), g - w * x), w)
        print(
            f"\nridge x{factor:g}: left to gain {path:.1e} at {path_db:.2f} dB; one step: {one:.1e} at {one_db:.2f} dB"
        )
        assert path < 1e-3 and path_db < one_db - 1.0


# ---------------------------------------------------------------------------- through the calibrator
def function_source(cfg, snr_db=60.0, corrupt=None):
    truth = make_truth(cfg)
    g, f = cfg.geometry, cfg.frequencies()

    def respond(codes, t):
        y = truth.response(np.asarray(codes).reshape(len(codes), g.layers, g.rows, g.cols), g.bits, f)
        return y if corrupt is None else corrupt(np.asarray(codes), y)

    return FunctionSource(respond, f, g.bits, (g.layers, g.rows, g.cols), snr_db=snr_db, seed=3), g.build(f)


def calibrated(cfg, terms=TERMS, stages=2, slots=80, family="multiport", corrupt=None):
    src, ideal = function_source(cfg, corrupt=corrupt)
    par = (
        NetworkParameterization(ideal, cfg.geometry.bits, receivers="free", terms=terms)
        if family == "multiport"
        else bench_parameterization(family, ideal, cfg.geometry.bits, atom_gains=True, receivers="free")
    )
    cal = Calibrator(par, src, heldout_slots=30, test_slots=30, seed=0)
    return cal.calibrate(stages, slots), cal


EFFECTS = {"face": MULTIPORT, "feed": {"horn_q": 15.0}, "codes": {"code_spread": 0.1}}
# what each term is compared against: the family without it, and without the terms that would stand in for it
# (each atom's own code table also carries a common factor per first-layer atom: a feed weight)
BASE = {"face": ("feed", "codes"), "feed": ("face",), "codes": ("face", "feed")}


@pytest.mark.parametrize("term", TERMS)
def test_each_term_helps_where_its_effect_is_and_costs_nothing_where_it_is_not(term):
    others = BASE[term]
    rows = {}
    for bench, sim in (("with", EFFECTS[term]), ("without", {})):
        cfg = small_bench(**sim)
        rows[bench] = [calibrated(cfg, terms)[0].model.metrics["test_nmse_db"] for terms in (others + (term,), others)]
    print(
        f"\n{term}: with the effect {rows['with'][0]:.1f} dB (with it) vs {rows['with'][1]:.1f} dB (without "
        f"{term}); without it {rows['without'][0]:.1f} vs {rows['without'][1]:.1f} dB"
    )
    assert rows["with"][0] < rows["with"][1] - 10.0
    assert rows["without"][0] <= rows["without"][1] + 0.5


def test_no_choice_sees_the_test_set():
    """The test set is measured and reported, never used to choose: garbage in its responses changes the
    reported figure and nothing else (family, stage, residual stage and ridge, the model itself)."""
    cfg = small_bench(**MULTIPORT, code_spread=0.1)
    clean, cal = calibrated(cfg, family="auto")
    test_keys = {c.tobytes() for c in cal.test_codes.astype(np.uint16)}

    def scramble(codes, y):
        hit = np.array([c.astype(np.uint16).tobytes() in test_keys for c in codes.reshape(len(codes), -1)])
        y = y.copy()
        y[hit] = y[hit][::-1] * 1j  # another configuration's response, turned
        return y

    dirty, _ = calibrated(cfg, family="auto", corrupt=scramble)
    a, b = clean.model.metrics, dirty.model.metrics
    print(
        f"\nkept {clean.model.parameterization}; test NMSE {a['test_nmse_db']:.1f} dB clean, "
        f"{b['test_nmse_db']:.1f} dB with the test set scrambled"
    )
    assert b["test_nmse_db"] > a["test_nmse_db"] + 20  # the test set was measured and scored
    assert clean.model.hash == dirty.model.hash
    validation = {k: v.get("validation_nmse_db") for k, v in a["selection"].items()}  # fit times aside
    assert validation == {k: v.get("validation_nmse_db") for k, v in b["selection"].items()}
    assert (a["chosen_stage"], a["residual_stage"]) == (b["chosen_stage"], b["residual_stage"])


def test_the_floor_the_hil_report_prints_is_the_benchs_paths_around_the_sim():
    """The configuration-independent power the HIL report prints per port (what limits a null) is what the
    bench's multipath and leakage add, as the calibration estimated it: complex, per frequency."""
    cfg = small_bench(multipath=0.1, multipath_delay_ns=3.0, leakage=0.01, leakage_delay_ns=0.5)
    run, _ = calibrated(cfg, terms=("face",))
    truth = make_truth(cfg)
    g = truth.geometry
    added = truth.effects.added_paths(cfg.frequencies(), g.input_antennas.positions[0], g.output_antennas.positions)
    want = 10 * np.log10(np.mean(np.abs(added) ** 2, axis=0))
    got = np.array(floor_db(run.model))
    err = nmse_db(run.model.leakage, added)
    print(f"\nfloor per port {np.round(got, 2)} dB, bench {np.round(want, 2)} dB; complex estimate NMSE {err:.1f} dB")
    assert np.all(np.abs(got - want) < 0.5)
    assert err < -25
