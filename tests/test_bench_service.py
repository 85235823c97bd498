"""The bench service without a socket: apply, measure, calibrate and the board-state restore on the
simulated bench, no I/O before start(), and every handler's reply against its operation's declaration."""

from dataclasses import asdict

import numpy as np
import pytest
import zmq
from boards_helpers import reboot
from daemon_helpers import small_bench

from drivers.bench import open_devices
from sim_backend.bench import SimBench
from simhw.control import schema
from simhw.control.bench_service import BenchService
from simhw.control.operations import HANDLERS, OPERATIONS
from simhw.control.request import Batch, Request
from simhw.control.server import BenchServer
from simhw.control.store import Store
from simhw.values.phase_config import PhaseConfig

pytestmark = pytest.mark.timeout(300)


class Spy:
    """Forwards to a device and lists every attribute used (a method call or a property read)."""

    def __init__(self, device):
        object.__setattr__(self, "_device", device)
        object.__setattr__(self, "used", [])

    def __getattr__(self, name):
        self.used.append(name)
        return getattr(self._device, name)


class Host:
    """A host with one queued calibration, whose telemetry is a list."""

    def __init__(self):
        self.published = []

    def publish(self, topic, data):
        self.published.append((topic, data))

    def withdraw_pushes(self):
        return []

    def queued_calibrations(self):
        return {"queued-job"}

    def status(self):
        return {"queued": 1}


@pytest.fixture
def bench(tmp_path):
    cfg = small_bench(tmp_path, "service", quiet=True)
    with SimBench(cfg) as sim, open_devices(sim.resolved_config()) as (board, vna):
        store = Store(cfg.daemon.store)
        yield sim, board, vna, store, sim.resolved_config()
        store.close()


def test_neither_constructor_does_io(bench):
    """Neither constructor touches the board, the VNA, the store or the ZeroMQ context (no socket, nothing
    bound); start() does, through the same spies."""
    sim, board, vna, store, cfg = bench
    spy_board, spy_vna, spy_store = Spy(board), Spy(vna), Spy(store)
    ctx = zmq.Context()
    try:
        spy_ctx = Spy(ctx)
        service = BenchService(cfg, spy_board, spy_vna, spy_store, clock=sim.clock.now)
        server = BenchServer(service, context=spy_ctx)
        assert spy_store.used == [] and spy_ctx.used == []
        assert spy_board.used == [] and spy_vna.used == [] and store.count("snapshots") == 0
        assert server.bench is service and store.count("events") == 0
        service.start()
        assert "identify" in spy_vna.used and store.count("snapshots") == 1
        assert {"snapshot", "last_push"} <= set(spy_store.used) and spy_ctx.used == []
    finally:
        ctx.destroy(linger=0)  # closes whatever socket a broken constructor left open


def test_apply_measure_calibrate_and_restore_without_a_socket(bench):
    sim, board, vna, store, cfg = bench
    host = Host()
    service = BenchService(cfg, board, vna, store, clock=sim.clock.now, host=host)
    service.start()
    a = PhaseConfig.random(4, 6, 6, 2, seed=31)
    assert service.apply(a) and not service.apply(a)  # verified, then known to be shown
    assert service.push(a, "test") == {"hash": a.hash, "applied": False, "push": 1}  # recorded, not re-sent
    np.testing.assert_array_equal(board.read_active(), a.codes)
    asked, status = [], board.status
    board.status = lambda: asked.append(1) or status()
    m = service.measure()
    del board.status
    assert len(asked) == 2  # the board's STATUS before and after the sweep; the temperature is the second's
    assert m.config_hash == a.hash and m.flag is None and m.latched == asdict(board.latched())
    np.testing.assert_allclose(m.s, sim.truth.response(a.codes, 2, m.frequencies), rtol=1e-3)
    assert (
        store.get_measurement(m.id)["hash"] == a.hash
        and ("measurement", {"measurement": m.id, "hash": a.hash, "flag": None}) in host.published
    )
    done = service.calibrate("unit", "test", {})
    assert store.get_calibration(done["calibration"])["status"] == "done" and service.running_job is None
    assert service.active_hash is None  # pilots were shown
    assert service.shown.restore(a.hash, "the test's calibration")
    np.testing.assert_array_equal(board.read_active(), a.codes)
    assert service.measure().config_hash == a.hash
    # a new service on the same store trusts the last push only while the board shows it
    again = BenchService(cfg, board, vna, store, clock=sim.clock.now)
    again.start()
    assert again.active_hash == a.hash
    reboot(sim.firmwares[0])
    after_reboot = BenchService(cfg, board, vna, store, clock=sim.clock.now)
    after_reboot.start()
    assert after_reboot.active_hash is None


def requests(a: PhaseConfig, b: PhaseConfig) -> list:
    """(operation, request header) in an order where each finds what it reads."""
    return [
        ("status", {}),
        ("ping", {}),
        ("board_status", {}),
        ("push", {"config": a.to_bytes().decode()}),
        ("measure", {}),
        ("push_measure", {"config": b.to_bytes().decode()}),
        ("configs", {}),
        ("config", {"hash": a.hash}),
        ("pushes", {}),
        ("measurements", {}),
        ("measurement", {"measurement": 1}),
        ("calibrate", {"job": "unit"}),
        ("calibrations", {}),
        ("calibration", {"calibration": 1}),
        ("cancel", {"job": "queued-job"}),
        ("events", {}),
        ("tag", {"kind": "config", "target": a.hash, "tag": "t"}),
        ("st_session", {"config": a.to_bytes().decode(), "layer": 0, "seed": 1, "slots": 8, "rate_hz": 50.0}),
    ]


def test_every_handler_replies_with_its_declared_fields(bench):
    sim, board, vna, store, cfg = bench
    service = BenchService(cfg, board, vna, store, clock=sim.clock.now, host=Host())
    service.start()
    a, b = PhaseConfig.random(4, 6, 6, 2, seed=32), PhaseConfig.random(4, 6, 6, 2, seed=33)
    asked = requests(a, b)
    assert {name for name, _ in asked} == set(OPERATIONS)  # a new operation is checked here too
    for name, header in asked:
        op, sent = OPERATIONS[name], []
        msg = schema.decode(schema.encode({"op": name, "id": f"unit-{name}", **header}))
        request = Request([b"client"], msg, name, op.check(msg.header, service), sent.append)
        reply = HANDLERS[name](service, Batch([request]) if op.runs == "pipeline" else request)
        if reply is not None:
            request.answer(reply)
        assert request.answered and len(sent) == 1, name
        out = schema.decode(sent[0])
        assert out.header["ok"] is True and out.id == f"unit-{name}", (name, out.header)
        assert set(op.fields) <= set(out.header), (name, set(op.fields) - set(out.header))
        assert len(out.arrays) <= len(op.arrays), name
        if op.result in ("arrays+fields", "arrays+field", "arrays+header", "measurement"):
            assert len(out.arrays) == len(op.arrays), name
