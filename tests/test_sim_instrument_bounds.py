"""The simulated instruments bound what they buffer and how many clients they serve, as real ones do:
an unterminated SCPI line, a HiSLIP message without DataEnd and a VXI-11 record mark promising 2 GiB
each close their connection without growing; VXI-11 links die with their connection; and clients
past the limit are refused. Each case is followed by a real pyvisa-py client that still works."""

import socket
import struct
import time
import tracemalloc

import pytest
import pyvisa
from vna_helpers import DelayLine

from sim_backend.hislip_server import HEADER, HiSLIPCodec, HiSLIPServer, MessageType
from sim_backend.tcp_listener import MAX_CLIENTS, MAX_INPUT
from sim_backend.vna import make_instrument
from sim_backend.vna_tcp import VNAServer
from sim_backend.vxi11_server import CORE_PROG, CORE_VERS, MAX_LINKS, VXI11Server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def inst():
    return make_instrument("N5227B", DelayLine(), noise=False)


def _closed(sock: socket.socket, send: bytes, chunks: int, timeout: float = 10.0) -> bool:
    """Send ``send`` ``chunks`` times (or until the peer closes); whether the peer closed within ``timeout``."""
    sock.settimeout(0.05)
    deadline = time.monotonic() + timeout
    try:
        for _ in range(chunks):
            sock.sendall(send)
    except OSError:
        return True
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def _idn(resource: str) -> str:
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=5000)
    try:
        return r.query("*IDN?")
    finally:
        r.close()


def _grown(fn) -> int:
    """Bytes the process allocated (peak) while ``fn`` ran."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_unterminated_scpi_line_is_dropped_at_the_input_bound(inst):
    with VNAServer(inst) as srv:
        sock = socket.create_connection((srv.host, srv.port))
        peak = _grown(lambda: _closed(sock, b"x" * (1 << 20), 100))  # 100 MiB offered
        sock.close()
        assert peak < 3 * MAX_INPUT, peak
        assert "N5227B" in _idn(srv.resource)


def test_a_hislip_message_without_data_end_is_a_fatal_error(inst):
    srv = HiSLIPServer(inst).start()
    try:
        sock = socket.create_connection((srv.listener.host, srv.listener.port))
        sock.sendall(HiSLIPCodec.pack(MessageType.Initialize, 0, (1 << 16) | 0x534D, b"hislip0"))
        head = sock.recv(HEADER.size)
        assert HEADER.unpack(head)[1] == MessageType.InitializeResponse
        chunk = HiSLIPCodec.pack(MessageType.Data, 0, 0xFFFFFF00, b"y" * (256 << 10))
        peak = _grown(lambda: _closed(sock, chunk, 400))  # 100 MiB of Data, no DataEnd
        sock.close()
        assert peak < 3 * MAX_INPUT, peak
        assert "N5227B" in _idn(srv.resource)
    finally:
        srv.stop()


def _rpc_call(xid: int, proc: int, args: bytes) -> bytes:
    body = struct.pack("!IIIIII", xid, 0, 2, CORE_PROG, CORE_VERS, proc) + struct.pack("!IIII", 0, 0, 0, 0) + args
    return struct.pack("!I", 0x80000000 | len(body)) + body


def _create_link(sock) -> int:
    sock.sendall(_rpc_call(1, 10, struct.pack("!iII", 1, 0, 0) + struct.pack("!I", 5) + b"inst0\0\0\0"))
    sock.settimeout(5)
    data = b""
    while len(data) < 4 + 24 + 16:
        data += sock.recv(4096)
    error, lid = struct.unpack_from("!iI", data, 4 + 24)
    return lid if error == 0 else -error


def test_vxi11_bounds_records_links_and_reclaims_them(inst):
    srv = VXI11Server(inst, portmapper_port=0).start()
    try:
        sock = socket.create_connection(("127.0.0.1", srv.core_port))
        sock.sendall(struct.pack("!I", 0x80000000 | 0x7FFFFFFF))  # a record mark promising 2 GiB
        peak = _grown(lambda: _closed(sock, b"z" * (1 << 20), 100))
        sock.close()
        assert peak < 3 * MAX_INPUT, peak
        socks = [socket.create_connection(("127.0.0.1", srv.core_port)) for _ in range(MAX_LINKS + 2)]
        lids = [_create_link(s) for s in socks]
        assert sum(lid > 0 for lid in lids) == MAX_LINKS and lids[-1] == -9  # out of resources
        for s in socks:
            s.close()  # never destroyed: reclaimed with their connections
        deadline = time.monotonic() + 5
        while srv.core.links and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.core.links == {}
        again = socket.create_connection(("127.0.0.1", srv.core_port))
        assert _create_link(again) > 0
        again.close()
    finally:
        srv.stop()


def test_clients_past_the_limit_are_refused_and_the_rest_served(inst):
    with VNAServer(inst) as srv:
        socks = [socket.create_connection((srv.host, srv.port)) for _ in range(MAX_CLIENTS + 4)]
        time.sleep(0.5)
        served = 0
        for s in socks:
            s.settimeout(5)
            try:
                s.sendall(b"*IDN?\n")
                served += b"N5227B" in s.recv(4096)
            except OSError:
                pass
        assert served == MAX_CLIENTS, served
        for s in socks:
            s.close()
        time.sleep(0.3)
        assert "N5227B" in _idn(srv.resource)
