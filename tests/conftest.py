import functools
import os

import numpy as np
import pytest
from daemon_helpers import free_port
from pyvisa_py.protocols import rpc

import sim_backend.bench
from sim_backend.vxi11_server import PORTMAPPER_PORT, VXI11Server


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI`` set, as ``.ci/run`` does) a skipped test is a failed one: every client, service
    and port the tests need is there, so a skip would hide a test that did not run."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while it is imported (``pytest.skip(allow_module_level=True)``)."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped in CI, where nothing may be: {report.longrepr}"


@pytest.fixture
def vxi11_portmapper(monkeypatch) -> int:
    """The port the simulated benches' VXI-11 portmapper serves in this test, with pyvisa-py asking it: 111
    where it can be bound, otherwise a free port that pyvisa-py's portmapper client is pointed at (its module
    constant ``rpc.PMAP_PORT``; the client's code is not changed)."""
    if VXI11Server.can_bind():
        return PORTMAPPER_PORT
    port = free_port()
    monkeypatch.setattr(rpc, "PMAP_PORT", port)
    monkeypatch.setattr(sim_backend.bench, "VXI11Server", functools.partial(VXI11Server, portmapper_port=port))
    return port


from lab_helpers import lab_dsn  # noqa: E402,F401 - the real PostgreSQL of .ci/pg.sh, a database per test
