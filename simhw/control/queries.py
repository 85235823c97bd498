"""Handlers of the operations the serving loop answers at once: status and store reads.

Each takes (daemon, request id, checked parameters) and returns the reply frames; a missing
record is answered ``not_found``.
"""

from __future__ import annotations

import numpy as np

from simhw.control import schema
from simhw.control.operations import handler
from simhw.control.schema import RequestError


@handler("status")
@handler("ping")
def status(daemon, rid, p):
    return schema.reply(rid, status=daemon.status())


@handler("config")
def config(daemon, rid, p):
    return schema.reply(rid, config=daemon.store.get_config(p["hash"]).to_bytes().decode())


@handler("measurement")
def measurement(daemon, rid, p):
    m = daemon.store.get_measurement(p["measurement"])
    return schema.reply(rid, [m["frequencies"], m["s"]],
                        measurement={k: m[k] for k in ("id", "hash", "snapshot", "params", "created_at", "settings")})


@handler("calibration")
def calibration(daemon, rid, p):
    c = daemon.store.get_calibration(p["calibration"])
    model = c.pop("model")
    arrays = [] if model is None or not p["model"] else [np.frombuffer(model, np.uint8)]
    return schema.reply(rid, arrays, calibration=c)


@handler("events")
def events(daemon, rid, p):
    return schema.reply(rid, events=daemon.store.events(p.get("kind"), p["limit"]))


@handler("tag")
def tag(daemon, rid, p):
    if not daemon.store.exists(p["kind"], p["target"]):
        raise RequestError("not_found", f"no {p['kind']} {p['target']!r} in the store")
    try:
        tid = daemon.store.tag(p["kind"], p["target"], p["tag"], p.get("operator") or rid.rsplit("-", 1)[0])
    except ValueError as e:
        raise RequestError("bad_request", str(e)) from None
    return schema.reply(rid, tag={"id": tid, "kind": p["kind"], "target": p["target"], "tag": p["tag"]})


@handler("cancel")
def cancel(daemon, rid, p):  # a job id that is not live is not_found
    daemon.cancel(p["job"])
    return schema.reply(rid, cancelled=p["job"])


def _listing(name: str, read: str) -> None:
    """The handler of a listing: the newest ``limit`` records of one kind, from ``Store.<read>``."""
    handler(name)(lambda daemon, rid, p: schema.reply(rid, **{name: getattr(daemon.store, read)(p["limit"])}))


for _name, _read in (("configs", "list_configs"), ("pushes", "pushes"), ("measurements", "list_measurements"),
                     ("calibrations", "list_calibrations")):
    _listing(_name, _read)
