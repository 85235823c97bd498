"""Third-party clients and the VXI-11 portmapper for the tests that drive them.

Where a client is not installed a developer's run skips its tests; in CI (``CI`` set, as ``.ci/run``
does) that is a failure, like the PostgreSQL and Chromium fixtures. VXI-11 clients find the
instrument through the portmapper on port 111: the simulated portmapper serves 111 where it can be
bound, and otherwise a free port that pyvisa-py's portmapper client is pointed at for the test
(its module constant ``rpc.PMAP_PORT``; the client's code is not changed)."""

from __future__ import annotations

import functools
import importlib
import os

import pytest
from daemon_helpers import free_port
from pyvisa_py.protocols import rpc

import sim_backend.bench
from sim_backend.vxi11_server import PORTMAPPER_PORT, VXI11Server


def public_client(module: str):
    """``module`` imported; a skip where it is missing, a failure in CI (also at module level)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{module} cannot be imported ({exc}): .ci/run installs the test extra", pytrace=False)
        pytest.skip(f"{module} is not installed", allow_module_level=True)


@pytest.fixture
def vxi11_portmapper(monkeypatch) -> int:
    """The port the simulated benches' VXI-11 portmapper serves in this test, with pyvisa-py asking it."""
    if VXI11Server.can_bind():
        return PORTMAPPER_PORT
    port = free_port()
    monkeypatch.setattr(rpc, "PMAP_PORT", port)
    monkeypatch.setattr(sim_backend.bench, "VXI11Server", functools.partial(VXI11Server, portmapper_port=port))
    return port
