"""Calibration jobs on the bench service: build the calibrator, run, store, publish.

The calibration package does the work (:class:`calibration.calibrator.Calibrator` over a
:class:`calibration.sources.BenchSource` on the daemon's board and VNA); this module only wires
it to the store (a ``calibrations`` row per run, with a snapshot of the bench description and
the software version), to telemetry (progress events) and to cancellation.
"""

from __future__ import annotations

import json
import logging

from calibration.calibrated import CalibratedModel
from calibration.calibrator import Calibrator
from calibration.parameterization import bench_parameterization
from calibration.receivers import receiver_unknowns
from calibration.sources import BenchSource
from simhw.control.store import StoreFull
from simhw.control.topics import Topic

log = logging.getLogger("simhw.daemon")


class Cancelled(Exception):
    """A calibration was cancelled (by request or by shutdown)."""


def check_identifiable(par, slots: int, frequencies: int, ports: int) -> None:
    """Refuse, before anything is measured, a first stage of ``slots`` pilots that gives fewer real
    observations than ``par`` has unknowns (the rule :meth:`CalibrationData.check_against` applies to
    measured data: the parameters the data must identify, the free channel's, the receive terms');
    the message names the slots per stage that would do. With several families (``auto``) one that can
    be identified is enough: the calibration skips the others."""
    if isinstance(par, (list, tuple)):
        errors = []
        for p in par:
            try:
                return check_identifiable(p, slots, frequencies, ports)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    atoms = par.ideal.n_atoms
    unknowns = (
        par.n_identified
        + (frequencies * 2 * atoms if getattr(par, "channel", None) == "free" else 0)
        + receiver_unknowns(par.receivers, frequencies, ports, atoms)
    )
    per_slot = 2 * frequencies * ports
    if slots * per_slot < unknowns:
        raise ValueError(
            f"{slots} slots per stage give {slots * per_slot} real observations for {unknowns} unknowns "
            f"({par.name} model, {getattr(par, 'channel', '?')} channel, {par.receivers} receivers, "
            f"{frequencies} frequencies x {ports} receive ports): use at least "
            f"{-(-unknowns // per_slot)} slots per stage, or a model with fewer unknowns"
        )


def requested_parameterization(bench, params: dict | None = None):
    """The model a calibration of the daemon's bench fits: the bench file's [calibration] (and ``params``)."""
    cfg, c, params = bench.config, bench.config.calibration, params or {}
    g = cfg.geometry
    return bench_parameterization(
        params.get("parameterization", c.parameterization),
        g.build(cfg.frequencies()),
        g.bits,
        bool(params.get("atom_gains", c.atom_gains)),
        params.get("receivers", c.receivers),
    )


def check_request(bench, params: dict) -> None:
    """Refuse (ValueError) a requested calibration that cannot identify its model, before it starts."""
    check_identifiable(
        requested_parameterization(bench, params),
        int(params.get("slots", bench.config.calibration.slots)),
        bench.config.frequencies().size,
        len(bench.params),
    )


def make_calibrator(bench, params: dict | None = None) -> Calibrator:
    """A calibrator for the daemon's bench, configured by the bench file's [calibration] (and ``params``)."""
    cfg, c = bench.config, bench.config.calibration
    params = params or {}
    g = cfg.geometry
    par = requested_parameterization(bench, params)
    source = BenchSource(
        bench.board,
        bench.vna,
        cfg.frequencies(),
        g.receive_ports,
        cfg.sweep.ifbw,
        cfg.sweep.power,
        clock=bench.clock,
        params=cfg.vna_params(),
    )
    cal = Calibrator(
        par,
        source,
        params.get("estimator", c.estimator),
        heldout_slots=int(params.get("heldout", c.heldout)),
        residual=bool(params.get("residual", c.residual)),
    )
    model = bench.store.latest_model()
    if model is not None:
        m = CalibratedModel.from_bytes(model)
        if cal.accepts(m):
            cal.model = m
    return cal


def run_calibration(bench, job_id: str, reason: str, params: dict, protocol: str, calibrator=None, started=None):
    """Record, run, store and publish one calibration; ``started(record id)`` is called once its record
    is in the store (a full store raises StoreFull before anything ran)."""
    c = bench.config.calibration
    stages = int(params.get("stages", c.stages))
    slots = int(params.get("slots", c.slots))
    names = {k: params.get(k, getattr(c, k)) for k in ("parameterization", "estimator")}
    record = {"job": job_id, "stages": stages, "slots": slots, **names}
    cid = bench.store.start_calibration(protocol, reason, record, bench.snapshot_id)
    if started is not None:
        started(cid)

    def tell(state: str, **data) -> None:
        """Publish a step of this run; every step but 'measured' is also an event in the store, so a page
        opened later (or reloaded) draws the whole curve and logs the run."""
        data = {"job": job_id, "calibration": cid, "state": state, **data}
        (bench.event if state == "measured" else bench.record)(Topic.CALIBRATION, data)

    tell("started", reason=reason)

    def progress(ev: dict) -> None:
        bench.check_cancel(job_id)
        if ev["kind"] == "stage":
            r = ev["report"]
            tell(
                "stage", stage=r.stage, family=ev.get("family"), stages=ev["stages"], heldout_nmse_db=r.heldout_nmse_db
            )
        elif ev["kind"] == "measure" and ev["done"] == ev["total"]:
            tell("measured", what=ev["what"])

    try:  # from here on, a failure (building the calibrator included) is a finished record with its reason
        cal = calibrator or make_calibrator(bench, params)
        run = cal.calibrate(stages, slots, protocol=protocol, reason=reason, progress=progress)
    except Exception as e:
        status = "cancelled" if isinstance(e, Cancelled) else "failed"
        bench.job_ending()
        try:
            bench.store.finish_calibration(cid, status, metrics={"error": str(e)})
        except Exception as store_error:  # a full store: the run stays 'running' and is marked interrupted at restart
            log.warning(
                json.dumps({"event": "calibration_not_finished", "calibration": cid, "error": str(store_error)})
            )
        tell(status, error=str(e))
        log.info(json.dumps({"event": "calibration_" + status, "job": job_id, "error": str(e)}))
        raise
    assert run.model is not None  # a run that returns has kept a model
    stages_out = [s.__dict__ for s in run.stages]
    metrics = dict(run.model.metrics, improvement_db=run.improvement_db)
    bench.job_ending()
    try:
        bench.store.finish_calibration(cid, "done", stages_out, metrics, run.model.to_bytes())
    except StoreFull as e:  # no room for the model: the record says so (an update without it needs no new page)
        bench.store.finish_calibration(cid, "failed", stages_out, {"error": f"the model was not kept: {e}"})
        tell("failed", error=str(e))
        raise
    bench.counters["calibrations"] += 1
    tell("done", heldout_nmse_db=run.final_heldout_nmse_db, improvement_db=run.improvement_db)
    log.info(
        json.dumps(
            {
                "event": "calibration_done",
                "job": job_id,
                "calibration": cid,
                "heldout_nmse_db": run.final_heldout_nmse_db,
            }
        )
    )
    return {"calibration": cid, "run": run}
