"""Calibration protocols against the simulated SIM: the bench through the real drivers, and drift."""

import numpy as np
import pytest

from calibration.calibrated import CalibratedModel, ModelRegistry
from calibration.calibrator import Calibrator
from calibration.indicators import BoardTemperature, PredictionResidual, ReceivedPowerChange
from calibration.metrics import nmse_interval_db
from calibration.parameterization import make_parameterization
from calibration.protocols import PeriodicMultiStage, PeriodicSingleStage, StateDriven
from calibration.sources import BenchSource, FunctionSource
from drivers.bench import open_devices
from sim_backend.bench import SimBench
from sim_backend.true_sim import Drift, SimClock, TrueSIM
from simhw.physics.geometry import FabricationErrors, SimGeometry
from simhw.values.bench_config import BenchConfig


def impaired_bench_config(points=3):
    cfg = BenchConfig()
    cfg.simulation.error_scale = 10.0
    cfg.simulation.coupling = 0.05
    cfg.simulation.phase_noise = 0.02
    cfg.simulation.phase_dependent_amplitude = True
    cfg.sweep.points = points
    return cfg


def test_end_to_end_calibration_through_the_drivers_beats_the_ideal_model_by_10_db(tmp_path):
    cfg = impaired_bench_config()
    events = []
    with SimBench(cfg) as bench:
        rc = bench.resolved_config()
        with open_devices(rc) as (board, vna):
            source = BenchSource(board, vna, rc.frequencies(), rc.geometry.receive_ports, rc.sweep.ifbw, rc.sweep.power)
            par = make_parameterization(
                "hybrid", rc.geometry.build(rc.frequencies()), levels=4, atom_gains=False, coupling_band=5
            )
            registry = ModelRegistry(tmp_path / "models")
            cal = Calibrator(par, source, heldout_slots=30, registry=registry)
            run = cal.calibrate(stages=3, slots=60, progress=events.append)
            # the pilots really went through the board: its active pattern is the last one measured
            last = np.asarray(board.read_active()).reshape(4, -1)
            assert np.array_equal(bench.firmwares[0].active_codes().reshape(4, -1), last)
            assert board.status().latch_count >= 30 + 3 * 60
    assert run.improvement_db >= 10.0, run.table()
    assert run.stages[-1].heldout_nmse_db < run.stages[0].heldout_nmse_db
    assert [e["stage"] for e in events if e["kind"] == "stage"] == [1, 2, 3]
    measured = [e for e in events if e["kind"] == "measure" and e["what"] == "stage 1"]
    assert measured[-1]["done"] == measured[-1]["total"] == 60
    stored = registry.latest()
    assert stored.version == 1 and stored.hash == run.model.hash
    assert stored.metrics["heldout_nmse_db"] == pytest.approx(run.final_heldout_nmse_db)
    np.testing.assert_allclose(stored.atom_response, run.model.atom_response)


def test_triggered_list_collection_matches_the_push_and_sweep_loop():
    cfg = BenchConfig()
    cfg.simulation.noise = False
    with SimBench(cfg) as bench:
        rc = bench.resolved_config()
        with open_devices(rc) as (board, vna):
            codes = np.random.default_rng(0).integers(0, 4, (12, 4, 36))
            listed = BenchSource(board, vna, [28e9], 2).measure(codes)
            looped = BenchSource(board, vna, [28e9], 2, use_list=False).measure(codes)
    assert listed.meta["mode"] == "list" and looped.meta["mode"] == "sweep"
    np.testing.assert_allclose(listed.y, looped.y, rtol=1e-9)
    np.testing.assert_allclose(listed.y, bench.truth.response(codes.reshape(12, 4, 6, 6), 2, [28e9]), rtol=1e-9)


def drifting_sim(rate):
    ideal = SimGeometry.uniform(4, 6, 6, 28e9, 0.01, n_outputs=2, input_distance=0.05)
    clock = SimClock(speed=0.0)
    truth = TrueSIM(ideal, FabricationErrors.paper(0.0107), seed=1, drift=Drift(rate_k_per_hour=rate), clock=clock)
    source = FunctionSource(
        lambda c, t: truth.response(c.reshape(-1, 4, 6, 6), 2, [28e9], t),
        [28e9],
        2,
        (4, 6, 6),
        snr_db=30,
        seed=0,
        clock=clock.now,
        temperature=truth.temperature_c,
    )
    return ideal, clock, truth, source


@pytest.mark.parametrize("rate", [2.0, 0.0])
def test_state_driven_recalibrates_on_drift_and_only_on_drift(rate):
    ideal, clock, truth, source = drifting_sim(rate)
    # no test set: a test set's 30 measurements would shift every later noise draw of this source, and the drift's
    # rise over one 10-minute check lies within about 1 dB of the 3 dB threshold, so the draws decide the last check
    cal = Calibrator(make_parameterization("hybrid", ideal), source, heldout_slots=40, test_slots=0)
    sd = StateDriven(
        cal, [PredictionResidual(3.0), ReceivedPowerChange(3.0)], check_every=600, stages=3, slots=100, clock=clock.now
    )
    first = sd.poll()
    assert first is not None and first.reason == "no calibrated model"
    post_cal = first.final_heldout_nmse_db
    fired = []
    for _ in range(6):  # one simulated hour in 10-minute checks, bounded
        clock.advance(600)
        run = sd.poll()
        if run is not None:
            fired.append((sd.readings[-1][1][0], run))
            break
    if rate == 0.0:
        assert fired == [] and len(sd.readings) == 6
        return
    assert fired, "drift never crossed the threshold"
    reading, run = fired[0]
    assert reading.crossed and reading.value > reading.baseline + 3.0
    assert run.final_heldout_nmse_db <= post_cal + 1.0, (post_cal, run.table())
    assert cal.model is run.model and run.model is not first.model
    clock.advance(600)  # the next check reads the new model's residual back under the threshold
    assert sd.poll() is None and not sd.readings[-1][1][0].crossed


def test_board_temperature_indicator_fires_with_the_bench_temperature():
    ideal, clock, truth, source = drifting_sim(6.0)
    cal = Calibrator(make_parameterization("physical", ideal), source, heldout_slots=20)
    sd = StateDriven(cal, [BoardTemperature(2.0)], check_every=600, stages=1, slots=60, clock=clock.now)
    sd.poll()
    clock.advance(600)  # +1 K
    assert sd.poll() is None and not sd.readings[-1][1][0].crossed
    clock.advance(900)  # +2.5 K in total
    run = sd.poll()
    assert run is not None and "board_temperature_c" in run.reason


def test_periodic_protocols_run_when_due_on_an_injected_clock():
    ideal, clock, truth, source = drifting_sim(0.0)
    cal = Calibrator(make_parameterization("physical", ideal), source, heldout_slots=20)
    single = PeriodicSingleStage(cal, period=3600, slots=60, clock=clock.now)
    assert single.due() and single.poll() is not None
    clock.advance(1800)
    assert not single.due() and single.poll() is None
    clock.advance(1800)
    run = single.poll()
    assert run is not None and len(run.stages) == 1 and run.model.parent is None
    previous = run.model
    multi = PeriodicMultiStage(cal, period=60, stages=3, slots=40, clock=clock.now)
    run = multi.poll()
    assert [s.slots for s in run.stages] == [40, 80, 120]
    assert [s.radius for s in run.stages] == [50.0, 25.0, 12.5]
    # started from the previous model: its starting figure is the previous model's on this run's first
    # stage and test set, which differs from the ideal model's there (so the check can tell them apart)
    fam, first = cal.families[0], cal.last_data.take(np.arange(40))
    start_db = lambda x: fam.evaluate(np.asarray(x, float), first).nmse_db(cal.last_test)  # noqa: E731
    assert run.initial_heldout_nmse_db == pytest.approx(start_db(previous.x), abs=1e-9)
    assert abs(start_db(fam.par.initial()) - run.initial_heldout_nmse_db) > 0.1
    with pytest.raises(ValueError, match="period"):
        PeriodicSingleStage(cal, period=0)


def test_calibrator_refuses_unusable_setups(tmp_path):
    ideal, clock, truth, source = drifting_sim(0.0)
    other = SimGeometry.uniform(3, 6, 6, 28e9, 0.01, n_outputs=2)
    with pytest.raises(ValueError, match="mismatched geometry"):
        Calibrator(make_parameterization("physical", other), source)
    cal = Calibrator(make_parameterization("physical", ideal), source)
    with pytest.raises(ValueError, match="unknown estimator"):
        Calibrator(make_parameterization("physical", ideal), source, estimator="oracle")
    with pytest.raises(ValueError, match="pilot codes must lie"):
        source.measure(np.full((2, 4, 36), 7))
    with pytest.raises(ValueError, match="at least one stage"):
        cal.calibrate(stages=0)
    with pytest.raises(RuntimeError, match="no calibrated model"):
        StateDriven(cal, [PredictionResidual(1.0)]).check()
    bad = tmp_path / "model-v0001.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a calibrated model"):
        ModelRegistry(tmp_path).latest()


def test_calibrated_model_round_trip_and_versions(tmp_path):
    ideal, clock, truth, source = drifting_sim(0.0)
    registry = ModelRegistry(tmp_path)
    cal = Calibrator(
        make_parameterization("hybrid", ideal, levels=4, atom_gains=False), source, heldout_slots=20, registry=registry
    )
    a = cal.calibrate(1, 60).model
    b = cal.calibrate(1, 60).model
    assert (a.version, b.version, b.parent) == (1, 2, 1)
    assert registry.versions() == [1, 2]
    loaded = CalibratedModel.load(registry.path(2))
    codes = np.random.default_rng(0).integers(0, 4, (5, 4, 36))
    np.testing.assert_allclose(loaded.predict(codes, 2), b.predict(codes, 2))
    # a new calibrator on the same registry continues from the latest model
    again = Calibrator(make_parameterization("hybrid", ideal, levels=4, atom_gains=False), source, registry=registry)
    assert again.model.version == 2
    raw = dict(np.load(registry.path(2)))
    raw["x"] = raw["x"] + 1.0
    np.savez(tmp_path / "edited.npz", **raw)
    with pytest.raises(ValueError, match="hash"):
        CalibratedModel.load(tmp_path / "edited.npz")


def test_registry_versions_are_taken_atomically_by_concurrent_writers(tmp_path):
    import copy
    import threading

    ideal, clock, truth, source = drifting_sim(0.0)
    cal = Calibrator(make_parameterization("physical", ideal), source, heldout_slots=10)
    model = cal.calibrate(1, 20).model
    registry = ModelRegistry(tmp_path / "shared")
    start = threading.Barrier(6)

    def writer():
        start.wait()
        for _ in range(8):
            ModelRegistry(registry.directory).add(copy.deepcopy(model))

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert registry.versions() == list(range(1, 49))  # 48 writes, 48 distinct versions, none overwritten
    assert {registry.get(v).version for v in registry.versions()} == set(range(1, 49))
    assert not list(registry.directory.glob(".*.tmp"))


def test_every_calibrated_model_carries_its_held_out_prediction_spread():
    ideal, clock, truth, source = drifting_sim(0.0)
    cal = Calibrator(make_parameterization("physical", ideal), source, heldout_slots=25)
    run = PeriodicSingleStage(cal, period=3600, slots=60, clock=clock.now).poll()
    m, held = run.model.metrics, cal.last_heldout
    # recomputed from the stored model and the held-out set, configuration by configuration
    pred = run.model.predict(held.codes, held.bits)
    y = held.y
    per = 10 * np.log10(np.sum(np.abs(pred - y) ** 2, axis=(1, 2)) / np.sum(np.abs(y) ** 2, axis=(1, 2)))
    assert per.size == 25
    assert m["heldout_median_db"] == pytest.approx(np.median(per)) and m["heldout_worst_db"] == pytest.approx(per.max())
    assert m["heldout_spread_db"] == pytest.approx(np.std(per)) and m["heldout_spread_db"] > 0
    assert abs(m["heldout_median_db"] - m["heldout_nmse_db"]) < 3 * m["heldout_spread_db"] + 1.0
    power = 10 * np.log10(np.sum(np.abs(pred) ** 2, axis=(1, 2)) / np.sum(np.abs(y) ** 2, axis=(1, 2)))
    assert m["heldout_power_spread_db"] == pytest.approx(np.std(power)) and m["heldout_configs"] == 25


def test_the_reported_nmse_interval_covers_another_set_of_as_many_configurations():
    """A model's ``test_interval_db`` says where its NMSE would land on another set of as many configurations:
    over 200 sets of 30 drawn from one population (per-configuration errors and energies spread as on the
    realistic bench, 3 dB), the 90 % interval of each set covers the population's figure about 90 % of the time."""
    rng = np.random.default_rng(4)
    sigma = 3.0 / (10 / np.log(10))  # 3 dB of per-configuration spread, in nepers
    miss = np.exp(sigma * rng.standard_normal((200, 30)))
    energy = np.exp(0.5 * sigma * rng.standard_normal((200, 30)))
    truth = 10 * np.log10(np.exp(sigma**2 / 2) / np.exp((0.5 * sigma) ** 2 / 2))
    covered = np.array([lo <= truth <= hi for lo, hi in (nmse_interval_db(m, e) for m, e in zip(miss, energy))])
    widths = [hi - lo for lo, hi in (nmse_interval_db(m, e) for m, e in zip(miss[:20], energy[:20]))]
    print(f"\ncovered {covered.mean():.2f} of 200 sets; interval width {np.mean(widths):.2f} dB")
    assert 0.8 <= covered.mean() <= 0.96
