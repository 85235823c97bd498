"""Handlers of the operations the serving loop answers at once: status and store reads.

Each is ``(bench, request) -> reply frames`` on the
:class:`~simhw.control.bench_service.BenchService`; a missing record is answered ``not_found``.
"""

from __future__ import annotations

import json

import numpy as np

from simhw.control import schema
from simhw.control.operations import handler
from simhw.control.schema import RequestError
from simhw.values.measurement import Measurement


@handler("status")
@handler("ping")
def status(bench, request):
    return schema.reply(request.rid, status=bench.status())


@handler("config")
def config(bench, request):
    rid, p = request.rid, request.params
    if ("hash" in p) == ("name" in p):
        raise RequestError(
            "bad_request", "config needs 'hash' (its content hash) or 'name' (a name it was pushed under), not both"
        )
    if "name" in p:
        found = bench.store.config_named(p["name"])
        if found is None:
            raise RequestError("not_found", f"no stored configuration named {p['name']!r}")
        return schema.reply(rid, config=bench.store.get_config(found).replace(name=p["name"]).to_bytes().decode())
    return schema.reply(rid, config=bench.store.get_config(p["hash"]).to_bytes().decode())


@handler("measurement")
def measurement(bench, request):
    rid, p = request.rid, request.params
    rec = bench.store.get_measurement(p["measurement"])
    m = Measurement.from_record(rec, rec["frequencies"], rec["s"])
    return schema.reply(rid, [m.frequencies, m.s], **m.record())


@handler("calibration")
def calibration(bench, request):
    rid, p = request.rid, request.params
    c = bench.store.get_calibration(p["calibration"])
    model = c.pop("model")
    arrays = [] if model is None or not p["model"] else [np.frombuffer(model, np.uint8)]
    return schema.reply(rid, arrays, calibration=c)


@handler("tag")
def tag(bench, request):
    rid, p = request.rid, request.params
    if not bench.store.exists(p["kind"], p["target"]):
        raise RequestError("not_found", f"no {p['kind']} {p['target']!r} in the store")
    operator = p.get("operator") or (rid.rsplit("-", 1)[0] if rid else None)  # the client's name, from its ids
    try:
        tid = bench.store.tag(p["kind"], p["target"], p["tag"], operator)
    except ValueError as e:
        raise RequestError("bad_request", str(e)) from None
    return schema.reply(rid, tag={"id": tid, "kind": p["kind"], "target": p["target"], "tag": p["tag"]})


@handler("cancel")
def cancel(bench, request):  # a job id that is not live is not_found
    rid, p = request.rid, request.params
    bench.cancel(p["job"])
    return schema.reply(rid, cancelled=p["job"])


PAGE_BYTES = schema.MAX_HEADER - 4096  # a listing's records in one reply, leaving room for the envelope


def page(rows: list, limit: int, cursor: str) -> tuple[list, int | None]:
    """The records of one reply, newest first, cut to fit ``PAGE_BYTES``, and the cursor of the next
    page (the oldest record's ``cursor`` key; None when fewer than ``limit`` records were read, so
    none is left). A record
    too large for a reply on its own (none is: every string a client stores is bounded) is sent
    as its cursor and ``truncated``."""
    out: list = []
    size = 0
    for row in rows:
        n = len(json.dumps(row, separators=(",", ":"), default=str)) + 1
        if n > PAGE_BYTES:
            row, n = {cursor: row[cursor], "truncated": n}, 64
        if size + n > PAGE_BYTES:
            return out, out[-1][cursor]
        out.append(row)
        size += n
    return out, (out[-1][cursor] if out and len(rows) >= limit else None)


def _listing(name: str, read: str, cursor: str = "id", oldest_first: bool = False) -> None:
    """The handler of a listing: the newest ``limit`` records of one kind older than ``before``, from
    ``Store.<read>``, as many as fit one reply, with ``next``, the cursor of the rest."""

    def listing(bench, request):
        rid, p = request.rid, request.params
        args = (p.get("kind"),) if name == "events" else ()
        rows = getattr(bench.store, read)(*args, limit=p["limit"], before=p.get("before"))
        rows, nxt = page(rows[::-1] if oldest_first else rows, p["limit"], cursor)
        return schema.reply(rid, **{name: rows[::-1] if oldest_first else rows, "next": nxt})

    handler(name)(listing)


for _name, _read, _cursor in (
    ("configs", "list_configs", "seq"),
    ("pushes", "pushes", "id"),
    ("measurements", "list_measurements", "id"),
    ("calibrations", "list_calibrations", "id"),
    ("events", "events", "id"),
):
    _listing(_name, _read, _cursor, oldest_first=_name == "pushes")
