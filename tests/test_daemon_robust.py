"""Neither a request nor a reply can end the daemon's serving loop; every request is checked first."""

import sqlite3
import types

import numpy as np
import pytest
from daemon_helpers import ipc_bench
from transcript import SMP_PUSH, ScriptedLink

from drivers.board import BoardRefused
from drivers.smp import MsgType, SMPMessage, encode_frame
from drivers.smp_board import SMPBoard
from simhw.app.embedded import embedded_daemon
from simhw.control import schema
from simhw.control.client import DaemonClient, DaemonError
from simhw.control.operations import OPERATIONS, operation
from simhw.values.phase_config import PhaseConfig

A = PhaseConfig(np.array([[[0, 1], [2, 3]]], np.uint16), 2)


def test_a_crc_valid_commit_ack_with_a_short_body_is_a_failed_push_not_a_crash():
    acks = SMP_PUSH[1][1]
    short = encode_frame(SMPMessage(MsgType.ACK, 3, b"\x01\x02", version=2)).hex()  # 2 bytes where 8 belong
    a3 = acks.index("06534d028003")
    a4 = acks.index("06534d028004")
    link = ScriptedLink([SMP_PUSH[0], (SMP_PUSH[1][0], acks[:a3] + short + acks[a4:])])
    batch = SMPBoard(link, first_seq=0, session=0x5E55).push_many([A], attempts=1)
    assert batch.done == 0 and isinstance(batch.error, BoardRefused) and "malformed" in str(batch.error)


@pytest.fixture
def daemon_bench(tmp_path):
    cfg = ipc_bench(tmp_path, "robust")
    cfg.sweep.points = 3
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=20) as c:
        g = cfg.geometry
        yield bench, service, c, lambda seed: PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=seed)


def test_malformed_replies_and_store_errors_are_answered_and_the_loop_goes_on(daemon_bench):
    bench, service, c, config = daemon_bench
    fw = bench.firmwares[0]
    commit = fw._handlers[MsgType.COMMIT]
    fw._handlers[MsgType.COMMIT] = lambda body, now: commit(body, now)[:2]  # a firmware bug: a short ACK
    with pytest.raises(DaemonError, match="hardware.*malformed"):
        c.push(config(1))
    fw._handlers[MsgType.COMMIT] = commit
    assert c.push(config(2))["applied"]
    record = service.store.record_pushes
    service.store.record_pushes = lambda rows: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(DaemonError, match="internal.*disk I/O error"):
        c.push(config(3))
    service.store.record_pushes = record
    assert c.push(config(4))["applied"] and c.status()["counters"]["pushes"] == 2
    faults = [e["data"]["error"] for e in c.events("fault")]
    assert "disk I/O error" in faults and any("malformed" in f for f in faults)


def test_bad_calibrations_are_refused_before_they_start(daemon_bench):
    bench, service, c, config = daemon_bench
    for bad, word in (
        (dict(estimator="magic"), "estimator"),
        (dict(parameterization="psychic"), "parameterization"),
        (dict(heldout=-1), "heldout"),
        (dict(stages=0), "stages"),
    ):
        with pytest.raises(DaemonError, match=f"bad_request.*'{word}'"):
            c.calibrate(**bad)
    assert c.calibrations() == []


def test_space_time_sessions_check_frequency_and_parameter(daemon_bench):
    bench, service, c, config = daemon_bench
    base = config(5)
    with pytest.raises(DaemonError, match="'frequency'"):
        c.st_session(base, 0, 1, 10, 1000.0, frequency=1e15)
    with pytest.raises(DaemonError, match="'param'"):
        c.st_session(base, 0, 1, 10, 1000.0, param="S99")


def test_headers_that_are_not_json_or_describe_huge_arrays_are_bad_messages():
    with pytest.raises(schema.SchemaError) as e:
        schema.decode([schema.MAGIC, b'{"op": "status", "id": "x", "limit": NaN}'])
    assert e.value.code == "bad_message"
    with pytest.raises(schema.SchemaError) as e:
        schema.decode([schema.MAGIC, b'{"op": "status", "x": Infinity}'])
    assert e.value.code == "bad_message"
    huge = b'{"op": "status", "arrays": [{"dtype": "<f8", "shape": [4294967296, 4294967296, 4294967296]}]}'
    with pytest.raises(schema.SchemaError, match="exceeds") as e:
        schema.decode([schema.MAGIC, huge, b""])
    assert e.value.code == "bad_message"


@pytest.mark.parametrize("op", [5, ["status"], {"op": 1}, None, True])
def test_an_op_that_is_not_a_name_is_an_unknown_op(op):
    with pytest.raises(schema.RequestError) as e:
        operation(op)
    assert e.value.code == "unknown_op"


def test_every_declared_parameter_refuses_the_wrong_type():
    ctx = types.SimpleNamespace(
        board=types.SimpleNamespace(info=types.SimpleNamespace(layers=4, shape=(4, 6, 6), bits=2)),
        vna=types.SimpleNamespace(limits=types.SimpleNamespace(f_min=1e7, f_max=6.7e10, max_points=100001)),
        params=("S21", "S31"),
    )
    wrong = {"int": 1.5, "number": float("nan"), "str": 3, "bool": "yes", "config": 7}
    for op in OPERATIONS.values():
        for p in op.params:
            with pytest.raises(schema.RequestError, match=f"'{p.name}'") as e:
                p.check(wrong[p.kind], ctx)
            assert e.value.code == "bad_request", (op.name, p.name)


def test_push_many_keeps_the_acks_of_the_pushes_that_succeeded(daemon_bench):
    from simhw.control.client import DaemonBatchError

    bench, service, c, config = daemon_bench
    wrong_shape = PhaseConfig.random(1, 2, 2, bits=2, seed=0)
    batch = [config(10), config(11), wrong_shape, config(12)]
    with pytest.raises(DaemonBatchError) as e:
        c.push_many(batch, window=4)
    acks = e.value.acks
    assert [a is None for a in acks] == [False, False, True, False]
    assert [a["hash"] for a in acks if a] == [batch[0].hash, batch[1].hash, batch[3].hash]
    assert e.value.errors[2].code == "bad_request" and e.value.code == "bad_request"
    assert [p["hash"] for p in c.pushes()][-3:] == [batch[0].hash, batch[1].hash, batch[3].hash]
