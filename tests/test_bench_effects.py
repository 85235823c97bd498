"""What a real bench adds to the SIM's response (sim_backend/bench_effects.py), each checked against the
physics its documentation states, and each off when its knob is 0."""

import dataclasses

import numpy as np
import pytest

from sim_backend.bench import make_truth
from sim_backend.bench_effects import C0
from sim_backend.true_sim import SimClock
from sim_backend.vna import make_instrument
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

CODES = PhaseConfig.random(4, 6, 6, 2, seed=3).codes
OTHER = PhaseConfig.random(4, 6, 6, 2, seed=4).codes


def truth(clock=None, **knobs):
    cfg = BenchConfig()
    for k, v in knobs.items():
        setattr(cfg.simulation, k, v)
    return make_truth(cfg, clock)


def line_of_sight(t, f):
    g = t.geometry
    d = np.linalg.norm(g.output_antennas.positions - g.input_antennas.positions[0], axis=-1)
    return C0 / f[:, None] / (4 * np.pi * d[None, :]), d / C0


def test_every_effect_is_off_at_zero():
    """With every knob at 0 the bench's response is the bare cascade's: the physics model alone, built
    here from the same geometry at the same drift state, with no bench effect in between."""
    f = np.linspace(27e9, 29e9, 5)
    t = truth(multipath=0.0, cable_ppm_per_k=0.0, leakage=0.0, code_spread=0.0, horn_q=0.0)
    theta = CODES.reshape(1, CODES.shape[0], -1) * (2 * np.pi / 4) + t.phase_offset()
    geom = dataclasses.replace(t.geometry.with_frequencies(f), gaps=t.geometry.gaps * (1 + t.drift.cte * t.delta_t()))
    bare = SIMModel.from_geometry(geom, t.propagation, t.impairments).response(theta)[0, ..., 0]
    assert np.min(np.abs(bare)) > 1e-3
    np.testing.assert_allclose(t.response(CODES, 2, f), bare, rtol=1e-12, atol=0)
    np.testing.assert_allclose(truth().response(CODES, 2, f), bare, rtol=1e-12, atol=0)  # the defaults are 0


def test_a_reflector_ripples_the_response_with_period_one_over_its_excess_delay():
    f = np.linspace(26e9, 30e9, 801)
    excess = 5e-9
    without = truth().response(CODES, 2, f)
    t = truth(multipath=0.5, multipath_delay_ns=excess * 1e9)
    with_ = t.response(CODES, 2, f)
    # the added path: line-of-sight amplitude times the knob, delayed by line of sight plus the excess
    added = with_ - without
    amp, tau = line_of_sight(t, f)
    np.testing.assert_allclose(np.abs(added), 0.5 * amp, rtol=1e-9)
    slope = np.polyfit(2 * np.pi * f, np.unwrap(np.angle(added[:, 0])), 1)[0]
    assert -slope == pytest.approx(tau[0] + excess, rel=1e-6)
    # beating against the SIM path, the measured power ripples across frequency at the excess delay
    ripple = np.abs(with_[:, 0]) ** 2 - np.abs(without[:, 0]) ** 2
    spectrum = np.abs(np.fft.rfft((ripple - ripple.mean()) * np.hanning(f.size)))
    delays = np.fft.rfftfreq(f.size, d=f[1] - f[0])
    period = 1 / delays[np.argmax(spectrum)]
    assert period == pytest.approx(1 / excess, rel=0.1)


def test_cable_phase_turns_with_temperature_by_two_pi_f_tau_kappa_dt():
    f = np.linspace(27e9, 29e9, 5)
    clock = SimClock(speed=0.0)
    base = truth(clock, drift_k_per_hour=10.0)
    cables = truth(clock, drift_k_per_hour=10.0, cable_ppm_per_k=60.0, cable_delay_ns=4.5)
    np.testing.assert_array_equal(cables.response(CODES, 2, f), base.response(CODES, 2, f))  # dT = 0
    clock.advance(3600.0)  # 10 K warmer
    ratio = cables.response(CODES, 2, f) / base.response(CODES, 2, f)
    expected = np.exp(-2j * np.pi * f * 4.5e-9 * 60e-6 * 10.0)
    np.testing.assert_allclose(ratio, np.repeat(expected[:, None], 2, axis=1), rtol=1e-9)


def test_leakage_is_the_same_for_every_configuration():
    f = np.linspace(27e9, 29e9, 5)
    plain, leaky = truth(), truth(leakage=0.01)
    amp, _ = line_of_sight(leaky, f)
    np.testing.assert_allclose(np.abs(leaky.response(CODES, 2, f) - plain.response(CODES, 2, f)), 0.01 * amp, rtol=1e-9)
    # differences between configurations (what the SIM does) are untouched
    np.testing.assert_allclose(
        leaky.response(CODES, 2, f) - leaky.response(OTHER, 2, f),
        plain.response(CODES, 2, f) - plain.response(OTHER, 2, f),
        rtol=1e-9,
        atol=1e-15,
    )


def test_each_atom_shows_its_codes_with_its_own_phase_error():
    f = np.array([28e9])
    t = truth(code_spread=0.15)
    err = t.effects.code_phase_errors(4, 36, 2)
    assert err.shape == (4, 36, 4) and np.std(err) == pytest.approx(0.15, rel=0.15)
    codes = CODES.reshape(4, -1)
    theta = codes * (np.pi / 2) + err[np.arange(4)[:, None], np.arange(36)[None, :], codes] + t.phase_offset()
    np.testing.assert_allclose(t.response(CODES, 2, f), t.model(f).response(theta)[..., 0], rtol=1e-12)
    assert not np.allclose(t.response(CODES, 2, f), truth().response(CODES, 2, f), rtol=1e-3)


def test_horn_patterns_weight_each_atom_by_cos_q_of_its_angle():
    f = np.array([28e9])
    q = 15.0
    plain, horns = truth(), truth(horn_q=q)
    g = horns.geometry
    atoms = g.atom_positions()
    d_in = atoms[0] - g.input_antennas.positions[0]
    cos_in = d_in[:, 2] / np.linalg.norm(d_in, axis=1)
    np.testing.assert_allclose(
        horns.model(f).cascade.w_in[0, :, 0] / plain.model(f).cascade.w_in[0, :, 0], cos_in**q, rtol=1e-12
    )
    d_out = g.output_antennas.positions[0] - atoms[-1]
    cos_out = d_out[:, 2] / np.linalg.norm(d_out, axis=1)
    np.testing.assert_allclose(
        horns.model(f).cascade.w_out[0, 0] / plain.model(f).cascade.w_out[0, 0], cos_out**q, rtol=1e-12
    )
    assert np.all(cos_in**q <= 1) and np.min(cos_in**q) < 0.9  # edge atoms see less of the feed


class Matched:
    """A 4-port with known S-parameters: transmission 1 -> 2, reflections 0.1 and 0.2."""

    def s_params(self, f):
        f = np.asarray(f, float)
        s = np.zeros((f.size, 4, 4), complex)
        s[:, 1, 0] = s[:, 0, 1] = 0.4 * np.exp(-2j * np.pi * f * 1e-9)
        s[:, 0, 0], s[:, 1, 1] = 0.1, 0.2
        return s


def test_vna_calibration_residuals_stay_within_the_first_order_uncertainty_bound():
    d, m, t_db = 0.01, 0.018, 0.05  # -40 dB directivity, -35 dB match, 0.05 dB tracking
    ideal = make_instrument("N5227B", Matched(), noise=False)
    real = make_instrument("N5227B", Matched(), noise=False, residuals=(d, m, t_db))
    f = np.linspace(27e9, 29e9, 201)
    true = Matched().s_params(f)
    for inst in (ideal, real):
        inst.execute("SENS1:FREQ:STAR 27E9;STOP 29E9;POIN 201;:CALC1:PAR:EXT 's21',S21;:CALC1:PAR:EXT 's11',S11")
        inst.execute("SENS1:SWE:MODE SING")
    got = {k: real.trace(real.measurements[k]) for k in ("s21", "s11")}
    np.testing.assert_array_equal(ideal.trace(ideal.measurements["s21"]), true[:, 1, 0])  # off: exact
    s11, s22, s21 = 0.1, 0.2, 0.4
    track = 10 ** (t_db / 20) - 1
    bound21 = s21 * (m * s11 + m * s22 + m * m * (s11 * s22 + s21 * s21) + track) * 1.05  # first order, + 5 %
    dev21 = np.abs(got["s21"] - true[:, 1, 0])
    assert np.max(dev21) <= bound21 and np.max(dev21) > 0.2 * bound21
    bound11 = (d + s11 * (track + m * s11)) * 1.05
    dev11 = np.abs(got["s11"] - true[:, 0, 0])
    assert np.max(dev11) <= bound11 and np.max(dev11) > 0.5 * d


def test_the_realistic_preset_turns_every_effect_on_and_a_file_overrides_it(tmp_path):
    from simhw.values.bench_config import BenchConfig, BenchConfigError

    real = BenchConfig.named("realistic")
    sim = real.simulation
    assert sim.truth_model == "multiport" and real.sweep.points == 5
    assert all(
        getattr(sim, k) > 0
        for k in (
            "multipath",
            "cable_ppm_per_k",
            "leakage",
            "code_spread",
            "horn_q",
            "vna_residual_directivity",
            "vna_residual_match",
        )
    )
    path = tmp_path / "bench.toml"
    path.write_text('preset = "realistic"\n[simulation]\nmultipath = 0.0\n')
    mine = BenchConfig.load(path)
    assert mine.simulation.multipath == 0.0 and mine.simulation.leakage == sim.leakage
    assert BenchConfig.from_dict(__import__("tomllib").loads(mine.to_toml())).simulation == mine.simulation
    assert BenchConfig.named("ideal").simulation == BenchConfig().simulation
    with pytest.raises(BenchConfigError, match="unknown preset 'lab'"):
        BenchConfig.from_dict({"preset": "lab"})
    # the realistic truth differs from the model family's by more than noise
    f = np.linspace(27.5e9, 28.5e9, 5)
    ideal = make_truth(BenchConfig.named("ideal"))
    assert np.max(np.abs(make_truth(real).response(CODES, 2, f) - ideal.response(CODES, 2, f))) > 0.1 * np.max(
        np.abs(ideal.response(CODES, 2, f))
    )


def test_the_hil_truth_row_is_only_offered_when_the_truth_is_a_cascade_model():
    from simhw.app.hil import HILReport, truth_unavailable
    from simhw.values.bench_config import BenchConfig

    assert truth_unavailable(make_truth(BenchConfig.named("ideal"))) == ""
    why = truth_unavailable(make_truth(BenchConfig.named("realistic")))
    assert "multiport" in why and "effects" in why
    assert "effects" in truth_unavailable(truth(leakage=0.01))
    report = HILReport(
        0,
        (1,),
        rows=[
            {"model": "ideal", "predicted_db": 30.0, "measured_db": 8.0},
            {"model": "calibrated", "predicted_db": 30.0, "measured_db": 25.0},
        ],
        truth_unavailable=why,
    )
    assert report.gap_to_truth_db is None and "truth unavailable" in report.table()
    assert report.to_dict()["truth_unavailable"] == why


def test_calibration_on_the_realistic_bench_keeps_the_geometry_buildable(tmp_path, capsys):
    """A fit that steps to spacings describing no buildable SIM meets a wall and steps back; before,
    a calibration on this bench ended with a geometry error."""
    from calibration.data import Objective
    from calibration.physical import PhysicalParameterization
    from calibration.pilots import random_pilots
    from calibration.sources import FunctionSource
    from simhw.app.cli import main
    from simhw.physics.geometry import GeometryError
    from simhw.values.bench_config import BenchConfig

    cfg = BenchConfig.named("realistic")
    ideal = cfg.geometry.build(cfg.frequencies())
    par = PhysicalParameterization(ideal)
    t = make_truth(cfg)
    source = FunctionSource(
        lambda c, _t: t.response(c.reshape(-1, 4, 6, 6), 2, cfg.frequencies()), cfg.frequencies(), 2, (4, 6, 6)
    )
    obj = Objective(par, source.measure(random_pilots(20, 4, 36, 2, seed=1)))
    z = par.initial() / par.scale
    loss, _ = obj(z)
    far = z.copy()
    far[:4] += 10 * ideal.gaps.max() / par.scale[:4]  # every layer pushed past the receive antennas
    with pytest.raises(GeometryError):
        par.geometry(far * par.scale)
    wall, grad = obj(far)
    assert wall > 10 * loss and np.all(grad[:4] > 0)  # higher than any buildable point, pointing back
    bench = tmp_path / "realistic.toml"
    bench.write_text('preset = "realistic"\n[simulation]\ntransport = "inproc"\n')
    rc = main(
        [
            "calibrate",
            "--bench",
            str(bench),
            "--stages",
            "2",
            "--slots",
            "40",
            "--heldout",
            "10",
            "--models",
            str(tmp_path / "models"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    line = next(x for x in out.splitlines() if x.startswith("held-out end-to-end NMSE"))
    before = float(line.split(":", 1)[1].split("dB")[0])
    after = float(line.split("->")[1].split("dB")[0])
    print(f"\n{line}")
    assert after < before - 3  # the calibration fitted the realistic bench: the held-out figure improved
