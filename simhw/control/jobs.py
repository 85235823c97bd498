"""Handlers of the operations that run on the hardware worker, in arrival order, one at a time.

Each is ``(bench, request) -> reply frames`` on the :class:`~simhw.control.bench_service.BenchService`;
an exception becomes the request's error reply (a calibration, acknowledged as started, reports
its failure on telemetry and in the store instead). The bodies the scheduler shares (measure,
calibrate) are the bench service's.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

import numpy as np

from drivers.st_session import run_st_session
from simhw.control import schema
from simhw.control.calibration_job import check_request
from simhw.control.operations import PUSH_ACK, handler
from simhw.control.request import Request, fail
from simhw.control.schema import RequestError
from simhw.control.topics import Topic
from simhw.values.measurement import Measurement, parse_param
from simhw.values.phase_config import PhaseConfig

__all__ = ["board_status", "measure", "push_measure", "st_session", "calibrate", "store_st_session"]


@handler("board_status")
def board_status(bench, request: Request) -> list:
    st = asdict(bench.board.status())
    st["slot_crcs"] = list(st["slot_crcs"])
    return schema.reply(request.rid, board_status=st)


@handler("measure")
def measure(bench, request: Request) -> list:
    m = bench.measure()
    return schema.reply(request.rid, [m.frequencies, m.s], **m.record())


@handler("push_measure")
def push_measure(bench, request: Request) -> list:
    ack = bench.pipeline.acknowledge([(request, bench.apply(request.config))])[0]
    m = bench.measure()
    return schema.reply(request.rid, [m.frequencies, m.s], **m.record(), **{k: ack[k] for k in PUSH_ACK})


@handler("st_session")
def st_session(bench, request: Request) -> list:
    assert request.config is not None  # the operation declares its configuration required
    mid, r = store_st_session(bench, request.config, request.params)
    return schema.reply(
        request.rid,
        [r.responses.astype(np.complex128)],
        measurement=mid,
        slots=r.slots,
        steps=r.steps,
        missed=r.missed,
        ifbw=r.ifbw,
        seconds=r.seconds,
        slot_rate_hz=r.slot_rate_hz,
        frequency=r.frequency,
        layer=r.layer,
        seed=r.seed,
    )


@handler("calibrate")
def calibrate(bench, request: Request) -> None:
    """Answered ``started`` once its record is in the store (a full store: ``store_full``, nothing started);
    a run of more pilot measurements than ``daemon.max_pilots`` is refused, and so is one that cannot
    identify its model, before anything is measured."""
    c, p = bench.config.calibration, request.params
    pilots = p.get("stages", c.stages) * p.get("slots", c.slots) + p.get("heldout", c.heldout)
    if pilots > bench.config.daemon.max_pilots:
        raise RequestError(
            "bad_request",
            f"stages x slots + heldout = {pilots} pilot measurements; this bench "
            f"allows at most {bench.config.daemon.max_pilots} (daemon.max_pilots)",
        )
    job_id = p.get("job") or uuid.uuid4().hex[:12]
    try:  # a calibration that cannot identify its model is refused before anything is measured
        check_request(bench, p)
    except ValueError as e:
        fail(bench, request, RequestError("bad_request", str(e)))
        return
    except Exception as e:  # noqa: BLE001 - not yet acknowledged: the requester gets the error
        fail(bench, request, e, "internal")
        return

    def started(cid: int) -> None:
        request.answer(schema.reply(request.rid, job=job_id, started=True))

    bench.calibrate(job_id, "requested", p, started=started)


def store_st_session(bench, base: PhaseConfig, params: dict):
    """A randomised space-time session (drivers.st_session); stores the per-slot responses."""
    f = bench.config.frequencies()
    frequency = float(params.get("frequency") or f[f.size // 2])
    param = str(params.get("param", "S21"))
    bench.shown.forget()  # the board ends on a random slot
    r = run_st_session(
        bench.board,
        bench.vna,
        base,
        int(params["layer"]),
        int(params["seed"]),
        int(params["slots"]),
        float(params["rate_hz"]),
        frequency,
        param,
    )
    bench.store.put_config(base)
    rx, source = parse_param(param)
    mid = bench.store.put_measurement(
        Measurement(
            base.hash,
            np.full(r.slots, frequency),
            r.responses[:, None],
            (rx,),
            source_port=source,
            snapshot=bench.snapshot_id,
        )
    )
    bench.counters["measurements"] += 1
    info = {
        "measurement": mid,
        "hash": base.hash,
        "slots": r.slots,
        "missed": r.missed,
        "slot_rate_hz": r.slot_rate_hz,
        "seed": r.seed,
        "layer": r.layer,
    }
    bench.record(Topic.ST_SESSION, info)
    return mid, r
