"""The calibrator every protocol runs (:mod:`calibration.protocols` decides when): it holds the
parameterization, a pilot source, an estimator, the pilot design, fixed held-out reference
configurations and the current calibrated model. :meth:`Calibrator.calibrate` runs one calibration of S
stages: stage s measures new pilots, adds them to the data, and fits from the previous estimate inside
a trust region whose radius shrinks stage by stage (coarse, large steps first; fine, small steps later).
S = 1 is the single-stage protocol.

Progress goes to an optional callback ``progress(event: dict)`` with ``event["kind"]`` in
``measure``, ``iteration`` (every evaluation inside a fit), ``stage``, ``check``, ``done``; an
exception it raises (a cancellation) ends the run where it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from calibration.calibrated import CalibratedModel, ModelRegistry
from calibration.calibration_run import CalibrationRun, Progress, StageReport, radius_schedule
from calibration.codebook import CodebookEstimator
from calibration.data import CalibrationData
from calibration.estimators import ESTIMATORS, GradientEstimator
from calibration.families import Family, Prediction, network_estimator
from calibration.learned import LearnedEstimator
from calibration.metrics import prediction_spread, truth_metrics
from calibration.network import NetworkParameterization
from calibration.pilots import pilot_design, random_pilots
from calibration.sources import PilotSource, RecordedSource
from simhw.physics.geometry import FabricationErrors

__all__ = ["Calibrator"]

STAGE_TIE_DB = 0.5  # an earlier stage is kept only if its validation NMSE is lower than a later one's by more


class Calibrator:
    """Measurement, estimation and bookkeeping shared by every protocol.

    ``par``: one parameterization, or a sequence of them: then every family is fitted to the same
    pilots and the validation set (the reference configurations) chooses the one the calibration
    keeps (``parameterization = "auto"``). Three disjoint sets of configurations: the pilots fit the
    parameters; the validation set chooses the family, the stage and the residual stage; the test set,
    which no choice sees, gives the NMSE the calibration reports (``heldout_nmse_db``, with its spread).
    ``estimator``: 'gradient', 'codebook', 'learned' or an object with ``fit(data, start, radius)``.
    ``truth``: optional ``() -> Cascade`` of the true SIM (simulation only) for per-layer metrics.
    """

    def __init__(
        self,
        par,
        source: PilotSource,
        estimator="gradient",
        design: str = "random",
        heldout_slots: int = 40,
        bounds: FabricationErrors | None = None,
        seed=0,
        registry: ModelRegistry | None = None,
        truth: Callable | None = None,
        max_slots: int = 2000,
        estimator_options: dict | None = None,
        residual: bool = True,
        test_slots: int | None = None,
    ):
        """``residual``: run the residual stage after the last stage (kept only where it lowers the
        validation NMSE; :mod:`calibration.residual`). ``test_slots``: the size of the test set (default:
        as many as the validation set, so the reported figure is as precise as the one that chose)."""
        test_slots = heldout_slots if test_slots is None else test_slots
        pars = list(par) if isinstance(par, (list, tuple)) else [par]
        if not pars:
            raise ValueError("a calibration needs at least one parameterization")
        par = pars[0]
        if source.shape[0] != par.ideal.n_layers or source.shape[1] * source.shape[2] != par.ideal.n_atoms:
            raise ValueError(
                f"the source's SIM is {source.shape}, the model has {par.ideal.n_layers} layers of "
                f"{par.ideal.n_atoms} atoms: mismatched geometry"
            )
        self.par, self.source = par, source
        self.design, self.seed = design, seed
        self.rng = np.random.default_rng(seed)
        self.bounds = bounds or FabricationErrors.paper(float(par.ideal.wavelengths[0]))
        self.registry, self.truth = registry, truth
        self.last_data: CalibrationData | None = None  # the pilots of the latest calibration, as measured
        self.last_heldout: CalibrationData | None = None  # its validation set
        self.last_test: CalibrationData | None = None  # its test set
        self.max_slots = max_slots
        self.residual = residual
        options = estimator_options or {}
        self.families, self.unavailable = [], {}
        for p in pars:  # with several families, one the estimator cannot fit is left out (and said so)
            try:
                self.families.append(Family(p, self._make_estimator(p, estimator, options)))
            except ValueError as e:
                if len(pars) == 1:
                    raise
                self.unavailable[p.name] = str(e)
        if not self.families:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in self.unavailable.items()))
        self.par = self.families[0].par
        self.estimator = self.families[0].estimator
        L, N = par.ideal.n_layers, par.ideal.n_atoms
        recorded = getattr(source, "reference_codes", None)
        self.reference_codes = (
            recorded if recorded is not None else random_pilots(heldout_slots, L, N, source.bits, self.rng)
        )
        recorded_test = getattr(source, "test_codes", None)
        if recorded_test is not None or recorded is not None:
            self.test_codes = recorded_test  # a recording decides its own (None: it has no test set)
        else:
            test_rng = np.random.default_rng([np.random.default_rng(seed).integers(2**31), 7])  # not the pilots' stream
            self.test_codes = random_pilots(test_slots, L, N, source.bits, test_rng) if test_slots else None
        self.model: CalibratedModel | None = registry.latest() if registry is not None else None
        if self.model is not None and self._family_of(self.model) is None:
            self.model = None  # a model of another form cannot seed this one

    def accepts(self, model: CalibratedModel | None) -> bool:
        """Whether ``model`` can seed one of this calibrator's families."""
        return self._family_of(model) is not None

    def _family_of(self, model: CalibratedModel | None) -> Family | None:
        for fam in self.families:
            if model is not None and model.parameterization == fam.name and np.shape(model.x) == (fam.par.n_params,):
                return fam
        return None

    def _make_estimator(self, par, estimator, options: dict):
        if not isinstance(estimator, str):
            return estimator
        if isinstance(par, NetworkParameterization):
            return network_estimator(par, estimator, options)
        if estimator == "gradient":
            return GradientEstimator(par, **options)
        if estimator == "codebook":
            return CodebookEstimator(par, self.bounds, **options)
        if estimator == "learned":
            pilots = random_pilots(self.max_slots, par.ideal.n_layers, par.ideal.n_atoms, self.source.bits, self.rng)
            return LearnedEstimator(par, self.bounds, pilots, self.source.bits, self.source.frequencies, **options)
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}")

    # ------------------------------------------------------------------ pieces
    def pilots(self, first: int, count: int) -> np.ndarray:
        """Pilot codes for slots first .. first+count-1 of a calibration."""
        if isinstance(self.source, RecordedSource):  # a recording decides its own pilots
            return self.source.pilots(first, count)
        if isinstance(self.estimator, LearnedEstimator):  # trained for its own pilots
            fixed = self.estimator.pilots
            if first + count > len(fixed):
                raise ValueError(
                    f"the {self.estimator.name} estimator was trained for {len(fixed)} pilots; "
                    f"{first + count} requested"
                )
            return fixed[first : first + count]
        return pilot_design(self.design, count, self.par, self.source.bits, seed=self.rng)

    def measure_reference(self, progress: Progress | None = None) -> CalibrationData:
        """The validation set (the reference configurations state-driven checks measure too)."""
        return self.source.measure(self.reference_codes, _measure_cb(progress, "reference"))

    def measure_test(self, progress: Progress | None = None) -> CalibrationData | None:
        if self.test_codes is None or not len(self.test_codes):
            return None
        return self.source.measure(self.test_codes, _measure_cb(progress, "test"))

    def _truth_dict(self, cascade) -> dict | None:
        return None if self.truth is None else truth_metrics(cascade, self.truth()).to_dict()

    def physical_bound(self, x, data: CalibrationData, response) -> dict | None:
        """The Cramer-Rao bound of the physical parameters at the estimate ``x`` for the pilots ``data``
        (calibration.fisher), the noise taken from the fit's residual; None for forms without one."""
        fam = next((f for f in self.families if f.par is self.par), self.families[0])
        return fam.bound(x, data, response)

    def current_x(self) -> np.ndarray:
        return self.par.initial() if self.model is None else np.asarray(self.model.x, float)

    def _stage(self, lane, s: int, stages: int, data, heldout, radii, protocol, reason, t_start, progress) -> None:
        """Stage s of one family: its starting figures on the first stage, then its fit to the pilots so far."""
        if lane.run is None:
            lane.first = lane.family.evaluate(lane.x, data)
            lane.run = CalibrationRun(
                protocol,
                reason,
                t_start,
                getattr(lane.family.estimator, "name", "custom"),
                lane.family.name,
                lane.first.nmse_db(heldout),
                initial_truth=self._truth_dict(lane.first.cascade),
            )
        t0, c0 = time.perf_counter(), time.thread_time()
        fit = lane.family.estimator.fit(data, start=lane.x, radius=radii[s], iteration=_iteration_cb(progress, s + 1))
        lane.cpu_seconds += time.thread_time() - c0
        lane.step(s, fit, heldout, data, time.perf_counter() - t0, radii[s], self._truth_dict(fit.cascade))
        if progress:
            progress(
                {
                    "kind": "stage",
                    "stage": s + 1,
                    "stages": stages,
                    "report": lane.run.stages[-1],
                    "family": lane.family.name,
                }
            )

    # ------------------------------------------------------------------ one calibration
    def calibrate(
        self,
        stages: int = 1,
        slots: int = 100,
        radii: list | None = None,
        protocol: str = "manual",
        reason: str = "requested",
        progress: Progress | None = None,
        fresh: bool = False,
    ) -> CalibrationRun:
        """Run ``stages`` stages of ``slots`` pilots each, every family from the current model (or its
        nominal one); keep the family, and within it the stage, with the lowest validation NMSE."""
        if stages < 1 or slots < 1:
            raise ValueError(f"need at least one stage and one slot, got {stages} stages of {slots} slots")
        radii = radii if radii is not None else ([None] if stages == 1 else radius_schedule(stages))
        if len(radii) != stages:
            raise ValueError(f"{len(radii)} radii for {stages} stages")
        t_start = self.source.now()
        heldout = self.measure_reference(progress)
        start_of = self._family_of(None if fresh else self.model)
        lanes = [
            _Lane(fam, fam.par.initial() if fam is not start_of else np.asarray(self.model.x, float))
            for fam in self.families
        ]
        data = None
        for s in range(stages):
            new = self.source.measure(
                self.pilots(0 if data is None else data.slots, slots), _measure_cb(progress, f"stage {s + 1}")
            )
            data = new if data is None else data.concat(new)
            self.last_data, self.last_heldout = data, heldout
            for lane in lanes:
                if lane.failed:
                    continue
                try:
                    lane.family.check(data)
                except ValueError as e:  # too few pilots for this family: with others to choose from, skip it
                    if len(lanes) == 1:
                        raise
                    lane.failed = str(e)
                    continue
                try:
                    self._stage(lane, s, stages, data, heldout, radii, protocol, reason, t_start, progress)
                except (ValueError, ArithmeticError) as e:  # one family failing leaves the others to choose from
                    if len(lanes) == 1:
                        raise
                    lane.failed = f"{type(e).__name__}: {e}"
        fitted = [ln for ln in lanes if not ln.failed]
        if not fitted:
            raise ValueError("; ".join(f"{ln.family.name}: {ln.failed}" for ln in lanes))
        for lane in fitted:
            lane.finish(data, heldout, self.residual, progress)
        lane = min(fitted, key=lambda ln: ln.validation_db)
        run = lane.run
        self.par, self.estimator = lane.family.par, lane.family.estimator
        pred = lane.best
        test = self.measure_test(progress)  # measured last: no choice above could see it
        self.last_test = test
        bound = lane.family.bound(lane.best_x, data, pred.atom_response)
        test_db = pred.nmse_db(test) if test is not None else lane.validation_db
        run.test_nmse_db, run.chosen_stage = (None if test is None else test_db), lane.best_stage
        if test is not None:  # the starting model on the same set, so the improvement compares like with like
            run.initial_heldout_nmse_db = lane.first.nmse_db(test)
        selection = {
            **{k: {"failed": v} for k, v in self.unavailable.items()},
            **{
                ln.family.name: (
                    {"failed": ln.failed}
                    if ln.failed
                    else {
                        "validation_nmse_db": ln.validation_db,
                        "fit_seconds": ln.seconds,
                        "fit_cpu_seconds": ln.cpu_seconds,
                    }
                )
                for ln in lanes
            },
        }
        metrics = {
            "protocol": protocol,
            "reason": reason,
            "estimator": run.estimator,
            "stages": len(run.stages),
            "slots": data.slots,
            "heldout_nmse_db": test_db,
            "test_nmse_db": test_db,
            "test_configs": 0 if test is None else test.slots,
            "validation_nmse_db": lane.validation_db,
            "initial_heldout_nmse_db": run.initial_heldout_nmse_db,
            "frequencies": len(data.frequencies),
            "receivers": self.par.receivers,
            "chosen_stage": lane.best_stage,
            "selection": selection,
            "residual_stage": "off" if run.residual is None else ("kept" if run.residual["kept"] else "not kept"),
            "heldout_before_residual_db": run.stages[lane.best_stage - 1].heldout_nmse_db,
            **prediction_spread(pred.cascade, heldout, pred.atom_response, pred.leakage, pred.faces),
        }
        if test is not None:
            metrics.update(
                prediction_spread(pred.cascade, test, pred.atom_response, pred.leakage, pred.faces, prefix="test")
            )
        if bound is not None:
            metrics["physical_bound"] = bound
        model = CalibratedModel(
            pred.cascade,
            lane.best_x,
            self.par.name,
            self.par.ideal.describe(),
            metrics,
            parent=None if self.model is None else self.model.version,
            atom_response=pred.atom_response,
            leakage=pred.leakage,
            faces=pred.faces,
        )
        if self.registry is not None:
            self.registry.add(model)
        self.model = model
        run.model = model
        if progress:
            progress({"kind": "done", "run": run})
        return run


class _Lane:
    """One family's way through a calibration: its stages, its best stage by validation, its residual stage."""

    def __init__(self, family: Family, x: np.ndarray):
        self.family, self.x = family, x
        self.run: CalibrationRun | None = None
        self.first: Prediction | None = None  # the starting model, receive terms fitted to the first pilots
        self.failed = ""  # why this family could not be fitted (too few pilots for it), if so
        # fitting time (stages and residual stage): wall, and the fitting thread's processor time (a daemon's
        # other threads, and the simulated instruments in an embedded bench, run meanwhile)
        self.seconds = self.cpu_seconds = 0.0
        self.best: Prediction | None = None
        self.best_x, self.best_stage, self.validation_db = x, 0, np.inf
        self.lowest_db = np.inf  # the lowest validation NMSE of any stage so far (near ties are measured from it)

    def step(
        self,
        s: int,
        fit,
        validation: CalibrationData,
        data: CalibrationData,
        seconds: float,
        radius,
        truth: dict | None,
    ) -> None:
        self.x = fit.x
        pred = Prediction.of_fit(fit)
        val = pred.nmse_db(validation)
        self.run.stages.append(StageReport(s + 1, data.slots, seconds, fit.nmse_db, val, radius, truth))
        self.seconds += seconds
        if val <= self.lowest_db + STAGE_TIE_DB:  # a later stage, fitted to more pilots, wins a near tie
            self.best, self.best_x, self.best_stage, self.validation_db = pred, fit.x, s + 1, val
        self.lowest_db = min(self.lowest_db, val)

    def finish(self, data: CalibrationData, validation: CalibrationData, residual: bool, progress) -> None:
        if not residual:
            return
        t0, c0 = time.perf_counter(), time.thread_time()
        pred, self.run.residual, x = self.family.residual(self.best, data, validation, self.best_x)
        self.seconds += time.perf_counter() - t0
        self.cpu_seconds += time.thread_time() - c0
        if self.run.residual["kept"]:
            self.best, self.validation_db = pred, self.run.residual["heldout_after_db"]
            if x is not None:
                self.best_x = x
        if progress:
            progress({"kind": "residual", "residual": self.run.residual, "family": self.family.name})


def _iteration_cb(progress: Progress | None, stage: int):
    if progress is None:
        return None
    return lambda: progress({"kind": "iteration", "stage": stage})


def _measure_cb(progress: Progress | None, what: str):
    if progress is None:
        return None
    return lambda done, total: progress({"kind": "measure", "what": what, "done": done, "total": total})
