"""Handlers of the operations that run on the hardware worker, in arrival order, one at a time.

Each takes (daemon, job) and replies through ``daemon.reply``; an exception becomes the job's
error reply (a calibration, acknowledged as started, reports its failure on telemetry and in the
store instead). The bodies the scheduler shares (measure, calibrate) are the daemon's
``do_measure`` and ``do_calibrate``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field

import numpy as np

from drivers.st_session import run_st_session
from simhw.control import schema
from simhw.control.calibration_job import check_request
from simhw.control.operations import handler
from simhw.control.schema import RequestError
from simhw.control.topics import Topic
from simhw.values.phase_config import PhaseConfig

__all__ = ["Job", "board_status", "measure", "push_measure", "st_session", "calibrate", "store_st_session"]


@dataclass
class Job:
    ident: list | None  # routing frames of the requester
    msg: schema.Message | None
    kind: str
    params: dict = field(default_factory=dict)  # checked against the operation's declaration
    answered: bool = False  # its reply (or error) has been sent

    @property
    def rid(self) -> str | None:
        return self.msg.id if self.msg else None

    @property
    def config(self) -> PhaseConfig | None:
        return self.params.get("config")


@handler("board_status")
def board_status(daemon, job: Job) -> None:
    st = asdict(daemon.board.status())
    st["slot_crcs"] = list(st["slot_crcs"])
    daemon.reply(job.ident, schema.reply(job.rid, board_status=st))


@handler("measure")
def measure(daemon, job: Job) -> None:
    m = daemon.do_measure()
    daemon.reply(job.ident, schema.reply(job.rid, [m["frequencies"], m["s"]], measurement=m["measurement"],
                                         hash=m["hash"], flag=m["flag"]))


@handler("push_measure")
def push_measure(daemon, job: Job) -> None:
    out = daemon.pipeline.acknowledge([(job, daemon.pipeline.apply(job.config))])[0]
    m = daemon.do_measure()
    daemon.reply(job.ident, schema.reply(job.rid, [m["frequencies"], m["s"]], measurement=m["measurement"],
                                         **{**out, "hash": m["hash"]}, flag=m["flag"]))


@handler("st_session")
def st_session(daemon, job: Job) -> None:
    mid, r = store_st_session(daemon, job.config, job.params)
    daemon.reply(job.ident, schema.reply(job.rid, [r.responses.astype(np.complex128)], measurement=mid,
                                         slots=r.slots, steps=r.steps, missed=r.missed, ifbw=r.ifbw,
                                         seconds=r.seconds, slot_rate_hz=r.slot_rate_hz, frequency=r.frequency,
                                         layer=r.layer, seed=r.seed))


@handler("calibrate")
def calibrate(daemon, job: Job) -> None:
    """Answered ``started`` once its record is in the store (a full store: ``store_full``, nothing started);
    a run of more pilot measurements than ``daemon.max_pilots`` is refused, and so is one that cannot
    identify its model, before anything is measured."""
    c, p = daemon.config.calibration, job.params
    pilots = p.get("stages", c.stages) * p.get("slots", c.slots) + p.get("heldout", c.heldout)
    if pilots > daemon.config.daemon.max_pilots:
        raise RequestError("bad_request", f"stages x slots + heldout = {pilots} pilot measurements; this bench "
                                          f"allows at most {daemon.config.daemon.max_pilots} (daemon.max_pilots)")
    job_id = p.get("job") or uuid.uuid4().hex[:12]
    try:  # a calibration that cannot identify its model is refused before anything is measured
        check_request(daemon, p)
    except ValueError as e:
        daemon.fail(job, schema.RequestError("bad_request", str(e)))
        return
    except Exception as e:  # noqa: BLE001 - not yet acknowledged: the requester gets the error
        daemon.fail(job, e, "internal")
        return

    def started(cid: int) -> None:
        job.answered = True
        daemon.reply(job.ident, schema.reply(job.rid, job=job_id, started=True))

    daemon.do_calibrate(job_id, "requested", p, started=started)


def store_st_session(daemon, base: PhaseConfig, params: dict):
    """A randomised space-time session (drivers.st_session); stores the per-slot responses."""
    f = daemon.config.frequencies()
    frequency = float(params.get("frequency") or f[f.size // 2])
    param = str(params.get("param", "S21"))
    daemon.active_hash = None  # the board ends on a random slot
    r = run_st_session(daemon.board, daemon.vna, base, int(params["layer"]), int(params["seed"]),
                       int(params["slots"]), float(params["rate_hz"]), frequency, param)
    daemon.store.put_config(base)
    mid = daemon.store.put_measurement(base.hash, daemon.snapshot_id, [param], np.full(r.slots, frequency),
                                       r.responses[:, None])
    daemon.counters["measurements"] += 1
    info = {"measurement": mid, "hash": base.hash, "slots": r.slots, "missed": r.missed,
            "slot_rate_hz": r.slot_rate_hz, "seed": r.seed, "layer": r.layer}
    daemon.store.event(Topic.ST_SESSION, info)
    daemon.event(Topic.ST_SESSION, info)
    return mid, r
