"""A request as its handler sees it, and the one way a failed request is answered.

Every operation's handler has one signature, ``(bench, request) -> reply``: ``bench`` is the
:class:`~simhw.control.bench_service.BenchService`, ``request`` a :class:`Request` (for the push
pipeline, a :class:`Batch` of consecutive push requests, committed together), and the reply the
frames to send (None when the handler answered already: a calibration answers ``started`` before
it runs, a batch answers each push). The server that received the request gives it ``send``, the
way back to its requester; nothing else of the server reaches a handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.board import BoardResetError, BoardVerifyError
from simhw.control import schema
from simhw.control.schema import RequestError
from simhw.control.store import StoreFull
from simhw.control.topics import Topic
from simhw.values.phase_config import PhaseConfig

__all__ = ["Request", "Batch", "fail"]

log = logging.getLogger("simhw.daemon")


def _nowhere(frames: list) -> None:
    """The reply of a request nobody waits for (the scheduler's own jobs, a test's direct call)."""


@dataclass
class Request:
    ident: list | None  # routing frames of the requester
    msg: schema.Message | None
    kind: str  # the operation
    params: dict = field(default_factory=dict)  # checked against the operation's declaration
    send: Callable[[list], None] = _nowhere  # given by the server: the way back to the requester
    answered: bool = False  # its reply (or error) has been sent

    @property
    def rid(self) -> str | None:
        return self.msg.id if self.msg else None

    @property
    def config(self) -> PhaseConfig | None:
        return self.params.get("config")

    def answer(self, frames: list) -> None:
        self.answered = True
        self.send(frames)


@dataclass
class Batch:
    """Consecutive push requests from the head of the queue, applied in order and committed together."""

    requests: list
    kind: str = "push"


def fail(bench, request: Request, e: Exception, code: str | None = None) -> None:
    """Answer ``request`` with the error ``e`` (recorded and published as a fault unless it is the request's)."""
    if isinstance(e, RequestError):
        request.answer(schema.error_reply(request.rid, e.code, str(e)))
        return
    if isinstance(e, BoardResetError):
        bench.shown.reset_seen(str(e))
    code = code or (
        "verify_failed" if isinstance(e, BoardVerifyError) else "store_full" if isinstance(e, StoreFull) else "hardware"
    )
    log.warning(json.dumps({"event": "job_failed", "op": request.kind, "error": str(e)}))
    bench.record(Topic.FAULT, {"op": request.kind, "error": str(e)})
    request.answer(schema.error_reply(request.rid, code, f"{type(e).__name__}: {e}"))
