"""Every operation of the bench daemon, declared once (docs/control.md mirrors this table).

An :class:`Operation` says what a request carries (each :class:`Param` with its check and doc),
where it runs, and what its reply holds. The daemon validates and dispatches from it, the
:class:`~simhw.control.client.DaemonClient` has one method per operation written from it
(:mod:`simhw.control.client_gen` writes :mod:`simhw.control.client_ops`), and a test
checks the operation table of docs/control.md against it. Handlers register themselves with
:func:`handler` (store reads in :mod:`simhw.control.queries`, hardware jobs in
:mod:`simhw.control.jobs`, pushes in :mod:`simhw.control.pipeline`), so adding an operation is
one declaration here plus its handler.

``runs``:
    ``"loop"``      answered at once from the store by the serving loop;
    ``"job"``       queued for the hardware worker, in arrival order with every other job;
    ``"pipeline"``  queued like a job, and run by the push pipeline on the serving loop.

``result`` says what the client method returns:
    ``"field"``           the one reply field ``fields[0]`` (through ``decode`` if given);
    ``"fields"``          a dict of ``fields``;
    ``"arrays+fields"``   the reply arrays, then a dict of ``fields``;
    ``"arrays+field"``    the reply arrays, then the field ``fields[0]``;
    ``"arrays+header"``   the reply arrays, then the whole header but ``ok``, ``id`` and ``arrays``;
    ``"field+blob"``      the field ``fields[0]`` and the bytes of the first array (or None);
    ``"listing"``         the records of ``fields[0]``, read page by page (``before`` = the reply's ``next``)
                          until ``limit`` records or the oldest one: a reply never exceeds the header cap;
    ``"measurement"``     a :class:`~simhw.values.measurement.Measurement` of the arrays and the record fields
                          (a push's ``applied`` and ``push`` in its ``push``);
    ``"none"``            nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from calibration.estimators import ESTIMATORS
from calibration.parameterization import PARAMETERIZATIONS
from calibration.receivers import RECEIVERS
from drivers.st_session import max_slot_rate
from simhw.control.schema import RequestError
from simhw.control.store import TAGGABLE
from simhw.values.measurement import RECORD_FIELDS
from simhw.values.phase_config import METADATA_FIELDS, PhaseConfig, PhaseConfigError

__all__ = ["Param", "Operation", "OPERATIONS", "OPS", "HANDLERS", "PUSH_ACK", "PUSH_FIELDS", "handler", "operation"]

KINDS = ("int", "number", "str", "bool", "config")


@dataclass(frozen=True)
class Param:
    """One request field. ``lo``/``hi`` bound numbers and ``choices`` lists the values a string may take;
    each may be a function of the daemon that checks the request (its board, VNA and bench file)."""

    name: str
    kind: str
    doc: str
    required: bool = False
    default: Any = None
    lo: float | Callable | None = None
    hi: float | Callable | None = None
    positive: bool = False
    choices: tuple | Callable | None = None
    max_len: int = 64  # a string's longest value (every string a request carries is bounded)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def check(self, value, ctx=None):
        """The value checked and converted; raises RequestError('bad_request') with the reason."""
        if self.kind == "config":
            return _config(value, ctx)
        if self.kind == "int":  # a 64-bit integer unless its bounds say otherwise (the store holds int64)
            ok = (
                isinstance(value, int)
                and not isinstance(value, bool)
                and (self.lo is not None or -(2**63) <= value < 2**63)
            )
        elif self.kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str) and len(value) <= self.max_len
        lo, hi, choices = (_at(v, ctx) for v in (self.lo, self.hi, self.choices))
        if ok and lo is not None and hi is not None:
            ok = lo <= value <= hi
        if ok and self.positive:
            ok = value > 0
        if ok and choices is not None:
            ok = value in choices
        if not ok:
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:60] + f"... ({len(repr(value))} characters)"
            raise RequestError("bad_request", f"'{self.name}': {self.describe(ctx)}, got {shown}")
        return value

    def describe(self, ctx=None) -> str:
        lo, hi, choices = (_at(v, ctx) for v in (self.lo, self.hi, self.choices))
        kind = {
            "int": "an integer",
            "number": "a finite number",
            "bool": "true or false",
            "str": f"a string of at most {self.max_len} characters",
            "config": "a phase-config file line",
        }[self.kind]
        if lo is not None and hi is not None and not callable(lo) and not callable(hi):
            kind += f" in {lo}..{hi}"
        if choices is not None and not callable(choices):
            kind += " among " + ", ".join(map(str, choices))
        return kind + (" > 0" if self.positive else "")

    def encode(self, value):
        """Client side: the JSON value sent for ``value``."""
        return value.to_bytes().decode() if self.kind == "config" and isinstance(value, PhaseConfig) else value


def _at(v, ctx):
    """A bound given as a function of the daemon, evaluated (left as it is without a daemon)."""
    return v(ctx) if callable(v) and ctx is not None else v


def _config(text, ctx) -> PhaseConfig:
    if not isinstance(text, str):
        raise RequestError("bad_request", "'config' must be a phase-config file line (PhaseConfig.to_bytes)")
    try:
        cfg = PhaseConfig.from_bytes(text.encode())
    except (PhaseConfigError, ValueError) as e:
        raise RequestError("bad_request", f"invalid config: {type(e).__name__}: {str(e)[:200]}") from None
    long = [k for k in METADATA_FIELDS if k != "extra" and len(getattr(cfg, k) or "") > NAME_MAX]
    if long:
        raise RequestError(
            "bad_request",
            f"config metadata '{long[0]}' has {len(getattr(cfg, long[0]))} characters; at most {NAME_MAX} are kept",
        )
    info = None if ctx is None else ctx.board.info
    if info is not None and (cfg.shape != info.shape or cfg.bits != info.bits):
        raise RequestError(
            "bad_request", f"config is {cfg.shape} {cfg.bits}-bit, the board is {info.shape} {info.bits}-bit"
        )
    return cfg


@dataclass(frozen=True)
class Operation:
    name: str
    doc: str
    runs: str = "loop"
    params: tuple[Param, ...] = ()
    fields: tuple[str, ...] = ()  # reply header fields
    arrays: tuple[str, ...] = ()  # reply array frames, in order
    result: str = "fields"
    decode: Callable | None = None  # client side, for result "field"
    keyword_only: bool = False  # client side: its optional parameters are keyword-only

    @property
    def hardware(self) -> bool:
        """Whether it needs the board or the VNA (and so waits its turn behind running jobs)."""
        return self.runs != "loop"

    def check(self, header: dict, ctx=None) -> dict:
        """The request's parameters, checked, with defaults filled in; unknown fields are ignored."""
        out = {}
        for p in self.params:
            if header.get(p.name) is None:
                if p.required:
                    raise RequestError("bad_request", f"{self.name} needs '{p.name}': {p.describe(ctx)}")
                if p.default is not None:
                    out[p.name] = p.default
                continue
            try:
                out[p.name] = p.check(header[p.name], ctx)
            except RequestError as e:
                if p.kind == "config":
                    raise
                raise RequestError(e.code, f"{self.name} needs {e}") from None
        return out


def _layers(d) -> int:
    return d.board.info.layers - 1


def _f_min(d) -> float:
    return d.vna.limits.f_min


def _f_max(d) -> float:
    return d.vna.limits.f_max


def _receive_params(d) -> tuple:
    return d.params


def _max_points(d) -> int:
    return d.vna.limits.max_points


NAME_MAX = 200  # a config's name (and its other metadata strings), a tag
ID_MAX = 2**63 - 1  # store ids are SQLite's 64-bit integers
LIMIT = Param("limit", "int", "how many records, newest first (pushes: oldest first)", default=100, lo=1, hi=10_000)
BEFORE = Param("before", "int", "only records older than this cursor (a reply's `next`)", lo=1, hi=ID_MAX)
LISTING = (LIMIT, BEFORE)
CONFIG = Param("config", "config", "a phase-config file line (PhaseConfig.to_bytes)", required=True)
PUSH_ACK = ("applied", "push")  # whether a push was sent to the board, and its store id
PUSH_FIELDS = ("hash", *PUSH_ACK)  # a push's acknowledgement

_DECLARED = [
    Operation(
        "status",
        "the daemon's status: version, schema, board, active hash, job in flight, queue, counters, schedule, clock",
        fields=("status",),
        result="field",
    ),
    Operation("ping", "as status", fields=("status",), result="field"),
    Operation(
        "board_status",
        "the board's live STATUS, read from the board now (not from a cache)",
        runs="job",
        fields=("board_status",),
        result="field",
    ),
    Operation(
        "push",
        "show a configuration on the board, acknowledged after its readback matched and the push is stored",
        runs="pipeline",
        params=(CONFIG,),
        fields=PUSH_FIELDS,
    ),
    Operation(
        "measure",
        "sweep the VNA as the bench file says and store the measurement, labelled with what "
        "the board reports it showed",
        runs="job",
        fields=RECORD_FIELDS,
        arrays=("frequencies (F,)", "S (F, P)"),
        result="measurement",
    ),
    Operation(
        "push_measure",
        "push, then measure",
        runs="job",
        params=(CONFIG,),
        fields=(*RECORD_FIELDS, *PUSH_ACK),
        arrays=("frequencies (F,)", "S (F, P)"),
        result="measurement",
    ),
    Operation("configs", "stored configurations", params=LISTING, fields=("configs", "next"), result="listing"),
    Operation(
        "config",
        "one stored configuration, by its content hash or by a name it was pushed under (the "
        "newest so named, returned under that name)",
        params=(
            Param("hash", "str", "its content hash"),
            Param("name", "str", "a name it was pushed under (instead of hash)", max_len=NAME_MAX),
        ),
        fields=("config",),
        result="field",
        decode=lambda text: PhaseConfig.from_bytes(text.encode()),
    ),
    Operation("pushes", "acknowledged pushes", params=LISTING, fields=("pushes", "next"), result="listing"),
    Operation("measurements", "stored measurements", params=LISTING, fields=("measurements", "next"), result="listing"),
    Operation(
        "measurement",
        "one stored measurement with its arrays",
        params=(Param("measurement", "int", "its store id", required=True, lo=1, hi=ID_MAX),),
        fields=RECORD_FIELDS,
        arrays=("frequencies (F,)", "S (F, P)"),
        result="measurement",
    ),
    Operation(
        "calibrate",
        "start a calibration; it goes on after the reply (follow it on telemetry or with calibration)",
        runs="job",
        params=(
            Param("stages", "int", "stages (default: the bench file's)", lo=1, hi=10_000),
            Param("slots", "int", "pilot configurations per stage", lo=1, hi=10_000),
            Param("parameterization", "str", "the model to fit", choices=PARAMETERIZATIONS),
            Param("estimator", "str", "how to fit it", choices=ESTIMATORS),
            Param("heldout", "int", "held-out pilot configurations", lo=0, hi=10_000),
            Param("atom_gains", "bool", "fit a gain per atom (hybrid)"),
            Param("receivers", "str", "receive terms fitted per frequency", choices=RECEIVERS),
            Param("residual", "bool", "run the residual stage (kept only if it lowers held-out NMSE)"),
            Param("job", "str", "the job id to use (default: a new one)"),
        ),
        fields=("job", "started"),
        result="field",
        keyword_only=True,
    ),
    Operation(
        "cancel",
        "cancel a calibration job",
        params=(Param("job", "str", "the job id", required=True),),
        fields=("cancelled",),
        result="none",
    ),
    Operation("calibrations", "stored calibrations", params=LISTING, fields=("calibrations", "next"), result="listing"),
    Operation(
        "calibration",
        "one stored calibration with its model",
        params=(
            Param("calibration", "int", "its store id", required=True, lo=1, hi=ID_MAX),
            Param("model", "bool", "send the model too", default=True),
        ),
        fields=("calibration",),
        arrays=("the model (.npz bytes as <u1)",),
        result="field+blob",
    ),
    Operation(
        "events",
        "stored events",
        params=(Param("kind", "str", "only events of this kind"), *LISTING),
        fields=("events", "next"),
        result="listing",
    ),
    Operation(
        "tag",
        "tag a stored record; the tag is replicated to the lab database with it",
        params=(
            Param("kind", "str", "what is tagged", required=True, choices=TAGGABLE),
            Param("target", "str", "its store id (a config: its hash)", required=True),
            Param("tag", "str", "the tag (1 to 200 characters)", required=True, max_len=NAME_MAX),
            Param("operator", "str", "who tags it (default: the client's name)"),
        ),
        fields=("tag",),
        result="field",
    ),
    Operation(
        "st_session",
        "a randomised space-time session: one layer re-drawn every slot, stepped by the VNA's per-point trigger",
        runs="job",
        params=(
            Param("config", "config", "the base pattern", required=True),
            Param("layer", "int", "the randomised layer", required=True, lo=0, hi=_layers),
            Param("seed", "int", "the shared generator's seed", required=True, lo=0, hi=2**64 - 1),
            Param(
                "slots",
                "int",
                "how many slots (at most the VNA's points per sweep)",
                required=True,
                lo=1,
                hi=_max_points,
            ),
            Param(
                "rate_hz",
                "number",
                "the slot rate (at most what the VNA's fastest point time allows)",
                required=True,
                positive=True,
                lo=1e-3,
                hi=max_slot_rate(),
            ),
            Param("frequency", "number", "the CW frequency (default: the sweep's centre)", lo=_f_min, hi=_f_max),
            Param("param", "str", "the S-parameter, of a receive port", default="S21", choices=_receive_params),
        ),
        fields=(
            "measurement",
            "slots",
            "steps",
            "missed",
            "ifbw",
            "seconds",
            "slot_rate_hz",
            "frequency",
            "layer",
            "seed",
        ),
        arrays=("per-slot responses (slots,)",),
        result="arrays+header",
    ),
]

OPERATIONS: dict[str, Operation] = {op.name: op for op in _DECLARED}
OPS = frozenset(OPERATIONS)
HANDLERS: dict[str, Callable] = {}


def operation(name: str) -> Operation:
    try:
        return OPERATIONS[name]
    except (KeyError, TypeError):
        raise RequestError("unknown_op", f"unknown operation {name!r}; known: {sorted(OPS)}") from None


def handler(name: str):
    """Register the function below as the handler of operation ``name`` (declared above)."""
    if name not in OPERATIONS:
        raise ValueError(f"{name!r} is not a declared operation")

    def register(fn):
        if name in HANDLERS:
            raise ValueError(f"operation {name!r} already has a handler")
        HANDLERS[name] = fn
        return fn

    return register
