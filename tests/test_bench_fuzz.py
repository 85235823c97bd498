"""Random values for every numeric key of the bench file (Hypothesis): each file is either refused
with a message naming the key and its value, or starts a simulated bench whose daemon answers
``status``, ``push`` and ``measure``."""

import math
import os
import re

import pytest
from daemon_helpers import ipc_bench
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient, DaemonError
from simhw.values.bench_config import BenchConfig, BenchConfigError
from simhw.values.bench_limits import RANGES, _bound
from simhw.values.phase_config import PhaseConfig

KEYS = sorted(RANGES)
FAULTS = re.compile(r"byte_errors|_per_hour")  # injected faults: a push or measure may be answered with an error
STARTS = int(os.environ.get("SIMHW_BENCH_FUZZ_STARTS", 25))


def base(tmp) -> BenchConfig:
    cfg = ipc_bench(tmp, "fuzz")
    cfg.sweep.points = 3
    cfg.simulation.transport = "inproc"
    return cfg


def _values(key: str, cfg: BenchConfig):
    lo, hi, _ = RANGES[key]
    lo, hi = _bound(lo, cfg), _bound(hi, cfg)
    section, name = key.split(".")
    if isinstance(getattr(getattr(cfg, section), name), int):
        inside = st.integers(int(lo), int(hi))
        outside = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([int(lo) - 1, int(hi) + 1, 10**7, -1])
    else:
        inside = st.floats(lo, hi)
        outside = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0])
    return st.one_of(inside, inside, outside, st.booleans(), st.text(max_size=5))


@st.composite
def bench_files(draw, tmp):
    cfg = base(tmp)
    doc = cfg.to_dict()
    changed = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True))
    for key in changed:
        section, name = key.split(".")
        doc[section][name] = draw(_values(key, cfg))
    return doc, changed


def _load(doc, changed):
    """The config, or None when it was refused naming one of the changed keys."""
    try:
        return BenchConfig.from_dict(doc)
    except BenchConfigError as e:
        named = [k for k in changed if k in str(e)]
        assert named, (changed, [doc[k.split(".")[0]][k.split(".")[1]] for k in changed], str(e))
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_refusal_names_the_key_and_its_value(tmp_path_factory, data):
    doc, changed = data.draw(bench_files(tmp_path_factory.getbasetemp()))
    cfg = _load(doc, changed)
    if cfg is not None:
        for key in changed:
            lo, hi, _ = RANGES[key]
            section, name = key.split(".")
            assert _bound(lo, cfg) <= getattr(getattr(cfg, section), name) <= _bound(hi, cfg)


@settings(max_examples=STARTS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_accepted_bench_file_starts_and_answers(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("bench")
    doc, changed = data.draw(bench_files(tmp))
    cfg = _load(doc, changed)
    event("refused" if cfg is None else "started")
    if cfg is None:
        return
    faults = any(FAULTS.search(k) for k in changed)
    g = cfg.geometry
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=120) as c:
        assert c.status()["board"]["shape"] == [g.layers, g.rows, g.cols]
        for call in (lambda: c.push(PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=1)), c.measure):
            try:
                call()
            except DaemonError as e:
                assert faults and e.code in ("hardware", "verify_failed"), (changed, e)


@pytest.mark.parametrize(
    "text, key",
    [
        ("[daemon]\nheartbeat_s = nan", "daemon.heartbeat_s"),
        ("[simulation]\nclock_speed = nan", "simulation.clock_speed"),
        ("[sweep]\nifbw = nan", "sweep.ifbw"),
        ("[geometry]\nfrequency = inf", "geometry.frequency"),
        ("[sweep]\npower = inf", "sweep.power"),
        ("[geometry]\nrows = 10000000", "geometry.rows"),
        ("[board]\nbaudrate = -1", "board.baudrate"),
        ("[vna]\nsource_port = 2", "vna.source_port"),
    ],
)  # the default receive ports are 2 and 3
def test_the_values_the_issue_found_are_refused_naming_their_key(text, key):
    with pytest.raises(BenchConfigError, match=re.escape(key) + " = "):
        BenchConfig.from_toml(text)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_board_link_at_the_highest_byte_error_rate_allowed_still_starts(tmp_path, seed):
    """The largest ``byte_errors`` a bench file may ask for still lets the board's hello through its retries
    (at 0.099 per byte, once allowed, the bench could not start); pushes may then fail as hardware faults."""
    cfg = base(tmp_path)
    cfg.simulation.byte_errors = RANGES["simulation.byte_errors"][1]
    cfg.simulation.fault_seed = seed
    g = cfg.geometry
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=120) as c:
        assert c.status()["board"]["shape"] == [g.layers, g.rows, g.cols]
