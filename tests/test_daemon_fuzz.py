"""Every declared operation fed random parameters over real ZeroMQ: no reply is `internal`, the
daemon stays up, and every acknowledged push is in the store.

The strategies come from the declarations (simhw.control.operations): each parameter is left out,
given a value of its kind inside and outside its bounds, or given a value of another kind. Config
parameters get valid lines, lines of the wrong shape, garbage, deeply nested and oversized JSON.
``SIMHW_FUZZ_EXAMPLES`` sets the number of examples (the suite runs a few thousand).
"""

import os

import pytest
from daemon_helpers import ipc_bench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient, DaemonError
from simhw.control.operations import OPERATIONS
from simhw.values.phase_config import PhaseConfig

EXAMPLES = int(os.environ.get("SIMHW_FUZZ_EXAMPLES", 2000))
SHAPE, BITS = (4, 6, 6), 2

ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def config_lines(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["valid", "valid", "valid", "shape", "bits", "name", "nested", "garbage", "edited"]))
    if kind == "shape":
        return PhaseConfig.random(1, 2, draw(st.integers(1, 5)), bits=BITS, seed=seed).to_bytes().decode()
    if kind == "bits":
        return PhaseConfig.random(*SHAPE, bits=draw(st.integers(1, 16)), seed=seed).to_bytes().decode()
    if kind == "name":
        return (
            PhaseConfig.random(*SHAPE, bits=BITS, seed=seed, name="n" * draw(st.integers(0, 30_000)))
            .to_bytes()
            .decode()
        )
    if kind == "nested":
        return _nested(draw(st.integers(500, 20_000)))
    if kind == "garbage":
        return draw(st.text(max_size=200))
    line = PhaseConfig.random(*SHAPE, bits=BITS, seed=seed).to_bytes().decode()
    if kind == "edited":  # metadata nested deeper than a JSON parser recurses
        return line.replace('"metadata":{', '"metadata":{"extra":' + _nested(draw(st.integers(10, 3000))) + ",", 1)
    return line


def _value(p):
    """A value for the declared parameter ``p``: in and out of its bounds, of its kind or not."""
    if p.kind == "config":
        own = config_lines()
    elif p.kind == "int":
        own = (
            st.integers(-3, 300)
            | st.integers(-(2**70), 2**70)
            | st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1])
        )
        if p.name in ("slots",):  # a session's slots: large valid counts would hold the bench for minutes
            own = st.integers(-3, 200) | st.integers(100_002, 2**70)
    elif p.kind == "number":
        own = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308, 5e-324, 28e9, 1e3])
    elif p.kind == "bool":
        own = st.booleans()
    else:
        choices = p.choices if isinstance(p.choices, tuple) else ("S21", "S31", "config", "push", "gradient")
        own = st.sampled_from(choices) | st.text(max_size=80) | st.integers(0, 50).map(lambda n: "x" * 60 * n)
    return own | ANY


@st.composite
def requests(draw):
    op = OPERATIONS[draw(st.sampled_from(sorted(OPERATIONS)))]
    fields = {}
    for p in op.params:
        if draw(st.integers(0, 3)) or p.required and draw(st.booleans()):
            fields[p.name] = draw(_value(p))
    if op.name == "calibrate":  # a short run when valid: the bench file allows few pilots
        fields.setdefault("stages", 1)
    return op.name, fields


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    cfg = ipc_bench(tmp_path_factory.mktemp("fuzz"), "fuzz")
    cfg.sweep.points = 3
    cfg.calibration.parameterization, cfg.calibration.stages = "physical", 1
    cfg.calibration.slots, cfg.calibration.heldout = 10, 5
    cfg.daemon.max_pilots = 60
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        yield service, c, {"codes": {}, "acked": {}}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests())
def test_no_request_gets_an_internal_reply(fuzzed, request_):
    service, c, seen = fuzzed
    op, fields = request_
    try:
        msg = c.receive(c.send(op, **fields), raise_errors=False)
    except ValueError:  # the client refused to encode it (a header over 64 KiB): nothing was sent
        return
    code = None if msg.ok else msg.header["error"]["code"]
    seen["codes"][op, code] = seen["codes"].get((op, code), 0) + 1
    assert code != "internal", (op, {k: repr(v)[:200] for k, v in fields.items()}, msg.header["error"])
    if msg.ok and op in ("push", "push_measure"):
        seen["acked"][msg.header["push"]] = msg.header["hash"]
    if msg.ok and op == "calibrate":
        try:
            c.cancel(msg.header["job"])  # keep the bench for the next examples
        except DaemonError as e:
            assert e.code == "not_found"  # it ended already
    assert c.ping()["version"]


def test_after_the_fuzz_every_acknowledged_push_is_stored_and_the_daemon_answers(fuzzed):
    service, c, seen = fuzzed
    stored = {p["id"]: p["hash"] for p in service.store.pushes()}
    assert seen["acked"] and all(stored.get(i) == h for i, h in seen["acked"].items())
    assert c.status()["counters"]["requests"] > EXAMPLES
    print("fuzz replies (op, code): count:", dict(sorted(seen["codes"].items(), key=lambda kv: str(kv[0]))))
    answered = {op for op, code in seen["codes"] if code is None}
    assert {"push", "measure", "push_measure", "calibrate", "status", "configs"} <= answered, answered
