"""The status byte as clients poll it, per family and per interface: ``*OPC`` after a sweep starts, then
status-byte polls (``*STB?`` on the raw socket, the interface's own status read on HiSLIP and VXI-11:
pyvisa-py's ``read_stb()``, AsyncStatusQuery and device_readstb) see the event summary bit (ESB, with
``*ESE 1``) appear only when the sweep ends; MAV is set while a response waits to be read.

VXI-11 is reached on its core port directly (``TCPIP0::host,port::inst0::INSTR``), so these tests need
no portmapper (tests/test_vna_public_clients.py goes through the portmapper: on port 111 where it can
be bound, else on a free port pyvisa-py is pointed at)."""

import time

import pytest
from vna_helpers import served

from sim_backend.hislip_server import HiSLIPServer
from sim_backend.vna_tcp import VNAServer
from sim_backend.vxi11_server import VXI11Server

pytestmark = pytest.mark.timeout(60)

ESB, MAV = 1 << 5, 1 << 4

#: a single sweep (of the channel's sweep time) started, then *OPC, in one program message
SINGLE = {
    "keysight": "SENS1:SWE:MODE SING;*OPC",
    "ena": "TRIG:SOUR BUS;:INIT1:CONT ON;:TRIG:SING;*OPC",
    "rs": "INIT1:CONT OFF;:INIT1:IMM;*OPC",
}
IFBW = {"keysight": "SENS1:BWID", "ena": "SENS1:BWID", "rs": "SENS1:BAND"}
SERVERS = {"socket": VNAServer, "hislip": HiSLIPServer, "vxi11": lambda inst: VXI11Server(inst, portmapper_port=None)}


@pytest.fixture(params=["socket", "hislip", "vxi11"])
def interface(request):
    return request.param


@pytest.fixture(params=["N5227B", "E5071C", "M5180", "ZNA43"])
def session(request, interface):
    with served(request.param, SERVERS[interface]) as (inst, r):
        yield inst, r


def status_byte(r, interface) -> int:
    return int(r.query("*STB?")) if interface == "socket" else r.read_stb()


def test_opc_and_status_byte_polling_see_the_sweep_end(session, interface):
    inst, r = session
    fam = inst.model.family
    r.write(f"*CLS;*ESE 1;:SENS1:SWE:POIN 301;:{IFBW[fam]} 1E3")
    sweep_time = float(r.query("SENS1:SWE:TIME?"))
    assert 0.25 < sweep_time < 0.5
    assert status_byte(r, interface) & ESB == 0
    r.write(SINGLE[fam])
    t0 = time.monotonic()
    polls = []
    while time.monotonic() - t0 < 5:
        stb = status_byte(r, interface)
        polls.append((time.monotonic() - t0, stb))
        if stb & ESB:
            break
        time.sleep(0.01)
    seen = next(t for t, stb in polls if stb & ESB)
    assert polls[0][1] & ESB == 0 and len(polls) > 5  # polled while the sweep ran, without the bit
    assert sweep_time * 0.9 <= seen <= sweep_time + 0.5  # set when the sweep ended, not before
    assert int(r.query("*ESR?")) & 1  # the operation-complete event
    assert status_byte(r, interface) & ESB == 0  # reading the ESR clears the summary
    assert r.query("SYST:ERR?").strip().lstrip("+").startswith("0")


def test_opc_query_returns_when_the_sweep_ends(session, interface):
    inst, r = session
    fam = inst.model.family
    r.write(f"SENS1:SWE:POIN 301;:{IFBW[fam]} 1E3")
    sweep_time = float(r.query("SENS1:SWE:TIME?"))
    r.write(SINGLE[fam].removesuffix(";*OPC"))
    t0 = time.monotonic()
    assert r.query("*OPC?").strip().lstrip("+") == "1"
    assert time.monotonic() - t0 >= sweep_time * 0.9


@pytest.mark.parametrize("interface", ["hislip", "vxi11"])
def test_mav_is_set_while_a_response_waits(session, interface):
    inst, r = session
    assert r.read_stb() & MAV == 0
    r.write("*IDN?")
    assert r.read_stb() & MAV  # the response is queued (HiSLIP: sent, not yet delivered)
    assert r.read_stb() & MAV  # and stays so until it is read
    assert r.read().strip().startswith(inst.model.vendor)
    assert r.read_stb() & MAV == 0
    if interface == "vxi11":  # (pyvisa-py's HiSLIP device clear cannot skip a response already on the wire)
        r.write("SENS1:FREQ:STAR?")
        r.clear()  # a device clear drops the response
        assert r.read_stb() & MAV == 0
