"""VXI-11 for the simulated VNA: ``TCPIP0::127.0.0.1::inst0::INSTR`` through pyvisa-py.

ONC RPC over TCP (RFC 5531: record marking, call and accepted reply; XDR, RFC 4506) with two
programs: the portmapper (100000 v2, GETPORT; on port 111, where it can be bound: a privileged port,
one per host) and the VXI-11
core channel (0x0607AF v1; VXI-11 rev. 1.0 sec. B.6): create_link, device_write (a message ends
with the END flag), device_read (the buffered response, END on its last byte; nothing buffered:
-420 "Query UNTERMINATED" and an I/O timeout), device_readstb, device_trigger, device_clear,
remote/local, lock/unlock and destroy_link. :class:`RPCCodec` and :class:`CoreChannel` never
touch a socket; :class:`VXI11Server` runs them on threads. Without the portmapper
(``portmapper_port=None``) the core channel is reached directly, as pyvisa-py does with a port in
the resource string: ``TCPIP0::127.0.0.1,<core port>::inst0::INSTR`` (:attr:`VXI11Server.direct_resource`),
so VXI-11 is testable where port 111 cannot be bound, and by several servers at once.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from sim_backend.scpi import E
from sim_backend.tcp_listener import MAX_INPUT, TCPListener

__all__ = ["RPCCodec", "CoreChannel", "VXI11Server", "PORTMAPPER_PORT"]

PORTMAPPER_PORT = 111
PMAP_PROG, PMAP_VERS, PMAP_GETPORT = 100000, 2, 3
CORE_PROG, CORE_VERS = 0x0607AF, 1
IPPROTO_TCP = 6
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS = 0, 1, 2, 3, 4
ERR_NONE, ERR_INVALID_LINK, ERR_NOT_SUPPORTED, ERR_OUT_OF_RESOURCES, ERR_TIMEOUT = 0, 4, 8, 9, 15
FLAG_END = 8
REASON_END = 4
REASON_REQCNT = 1
MAX_RECV = 1 << 20
MAX_RECORD = MAX_RECV + 4096  # an RPC record: one device_write of MAX_RECV bytes and its arguments
MAX_LINKS = 16  # links the core channel holds at once (create_link beyond: out of resources)


class XDR:
    """XDR reading (RFC 4506): unsigned/signed 32-bit integers, booleans, opaque and strings."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def uint(self) -> int:
        v = struct.unpack_from("!I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def int(self) -> int:
        v = struct.unpack_from("!i", self.data, self.pos)[0]
        self.pos += 4
        return v

    def opaque(self) -> bytes:
        n = self.uint()
        v = self.data[self.pos : self.pos + n]
        if len(v) != n:
            raise struct.error("opaque runs past the message")
        self.pos += (n + 3) & ~3
        return v


def xdr_opaque(b: bytes) -> bytes:
    return struct.pack("!I", len(b)) + b + b"\0" * (-len(b) % 4)


class RPCCodec:
    """Record-marked RPC messages (RFC 5531 sec. 11): bytes in, complete records out."""

    def __init__(self):
        self.buffer = bytearray()
        self.fragments = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Complete records; ValueError for a record longer than ``MAX_RECORD`` (the connection is then
        closed: nothing is buffered for it)."""
        self.buffer += data
        out = []
        while len(self.buffer) >= 4:
            mark = struct.unpack_from("!I", self.buffer)[0]
            length = mark & 0x7FFFFFFF
            if len(self.fragments) + length > MAX_RECORD:
                raise ValueError(f"an RPC record of more than {MAX_RECORD} bytes")
            if len(self.buffer) < 4 + length:
                break
            self.fragments += self.buffer[4 : 4 + length]
            del self.buffer[: 4 + length]
            if mark & 0x80000000:
                out.append(bytes(self.fragments))
                self.fragments.clear()
        return out

    @staticmethod
    def record(body: bytes) -> bytes:
        return struct.pack("!I", 0x80000000 | len(body)) + body

    @staticmethod
    def parse_call(record: bytes):
        """(xid, program, version, procedure, arguments reader), or raises struct.error / ValueError."""
        r = XDR(record)
        xid, mtype, rpcvers = r.uint(), r.uint(), r.uint()
        if mtype != 0 or rpcvers != 2:
            raise ValueError("not an RPC version 2 call")
        prog, vers, proc = r.uint(), r.uint(), r.uint()
        for _ in range(2):  # credentials, verifier
            r.uint()
            r.opaque()
        return xid, prog, vers, proc, r

    @staticmethod
    def reply(xid: int, status: int, results: bytes = b"") -> bytes:
        head = struct.pack("!IIIIII", xid, 1, 0, 0, 0, status)  # REPLY, MSG_ACCEPTED, AUTH_NULL verifier
        return RPCCodec.record(head + results)


class CoreChannel:
    """The VXI-11 core channel's links and procedures over one instrument (no I/O)."""

    def __init__(self, instrument):
        self.instrument = instrument
        self.links: dict[int, tuple] = {}  # id -> (session, input buffer, owner: the connection that created it)
        self._next = 1
        self._lock = threading.Lock()

    def call(self, proc: int, r: XDR, owner=None) -> tuple[int, bytes]:
        """(accept status, results) of one procedure call from the connection ``owner``."""
        handlers = {
            10: self._create_link,
            11: self._write,
            12: self._read,
            13: self._readstb,
            14: self._trigger,
            15: self._clear,
            16: self._generic,
            17: self._generic,
            18: self._lock_device,
            19: self._generic,
            20: self._enable_srq,
            22: self._unsupported,
            23: self._destroy,
            25: self._unsupported,
            26: self._unsupported,
        }
        fn = handlers.get(proc)
        if fn is None:
            return PROC_UNAVAIL, b""
        try:
            return SUCCESS, (self._create_link(r, owner) if proc == 10 else fn(r))
        except struct.error:
            return GARBAGE_ARGS, b""

    def _link(self, lid: int):
        return self.links.get(lid)

    def _create_link(self, r: XDR, owner=None) -> bytes:
        r.int()  # client id
        r.uint()  # lock device
        r.uint()  # lock timeout
        r.opaque()  # device name (inst0, ...)
        with self._lock:
            if len(self.links) >= MAX_LINKS:
                return struct.pack("!iiII", ERR_OUT_OF_RESOURCES, 0, 0, MAX_RECV)
            lid = self._next
            self._next += 1
            self.links[lid] = (self.instrument.session(buffered=True), bytearray(), owner)
        return struct.pack("!iiII", ERR_NONE, lid, 0, MAX_RECV)

    def close_owner(self, owner) -> None:
        """The connection ``owner`` closed: its links are destroyed, as an instrument reclaims them."""
        with self._lock:
            for lid in [lid for lid, link in self.links.items() if link[2] is owner]:
                del self.links[lid]

    def _write(self, r: XDR) -> bytes:
        lid, _io_timeout, _lock_timeout, flags = r.int(), r.uint(), r.uint(), r.int()
        data = r.opaque()
        link = self._link(lid)
        if link is None:
            return struct.pack("!iI", ERR_INVALID_LINK, 0)
        session, buf, _ = link
        if len(buf) + len(data) > MAX_INPUT:  # an unfinished message past the input buffer is discarded
            buf.clear()
            return struct.pack("!iI", ERR_OUT_OF_RESOURCES, 0)
        buf += data
        if flags & FLAG_END:
            text = bytes(buf).decode("latin-1")
            buf.clear()
            for line in [x for x in text.replace("\r", "").split("\n") if x.strip()]:
                _, stall = session.message(line)
                if stall:
                    time.sleep(stall)
        return struct.pack("!iI", ERR_NONE, len(data))

    def _read(self, r: XDR) -> bytes:
        lid, size = r.int(), r.uint()
        r.uint()  # io timeout
        r.uint()  # lock timeout
        r.int()  # flags
        r.int()  # term char
        link = self._link(lid)
        if link is None:
            return struct.pack("!ii", ERR_INVALID_LINK, 0) + xdr_opaque(b"")
        session = link[0]
        if not session.output:
            self.instrument.push_error(E.UNTERMINATED)
            return struct.pack("!ii", ERR_TIMEOUT, 0) + xdr_opaque(b"")
        chunk = session.read(min(size, MAX_RECV))
        reason = REASON_END if not session.output else REASON_REQCNT
        return struct.pack("!ii", ERR_NONE, reason) + xdr_opaque(chunk)

    def _generic_parms(self, r: XDR):
        lid = r.int()
        r.int()
        r.uint()
        r.uint()
        return self._link(lid)

    def _readstb(self, r: XDR) -> bytes:
        link = self._generic_parms(r)
        if link is None:
            return struct.pack("!iI", ERR_INVALID_LINK, 0)
        with self.instrument.lock:
            stb = self.instrument.status.stb(message_available=bool(link[0].output))
        return struct.pack("!iI", ERR_NONE, stb)

    def _trigger(self, r: XDR) -> bytes:
        if self._generic_parms(r) is None:
            return struct.pack("!i", ERR_INVALID_LINK)
        with self.instrument.lock:
            self.instrument.bus_trigger()
        return struct.pack("!i", ERR_NONE)

    def _clear(self, r: XDR) -> bytes:
        link = self._generic_parms(r)
        if link is None:
            return struct.pack("!i", ERR_INVALID_LINK)
        link[0].output.clear()
        link[1].clear()
        return struct.pack("!i", ERR_NONE)

    def _generic(self, r: XDR) -> bytes:
        lid = r.int()
        return struct.pack("!i", ERR_NONE if lid in self.links else ERR_INVALID_LINK)

    def _lock_device(self, r: XDR) -> bytes:
        return self._generic(r)

    def _enable_srq(self, r: XDR) -> bytes:
        return self._generic(r)

    def _unsupported(self, r: XDR) -> bytes:
        return struct.pack("!i", ERR_NOT_SUPPORTED) + xdr_opaque(b"")

    def _destroy(self, r: XDR) -> bytes:
        lid = r.int()
        return struct.pack("!i", ERR_NONE if self.links.pop(lid, None) is not None else ERR_INVALID_LINK)


class VXI11Server:
    """The portmapper on ``portmapper_port`` (111 for VISA clients; None: no portmapper) and the core
    channel on a free port."""

    def __init__(self, instrument, host: str = "127.0.0.1", portmapper_port: int | None = PORTMAPPER_PORT):
        self.instrument = instrument
        self.host = host
        self.core = CoreChannel(instrument)
        self._core = TCPListener(lambda c: self._serve(c, self._core, self._core_call), host, 0, "sim-vxi11-core")
        self._portmapper = (
            None
            if portmapper_port is None
            else TCPListener(
                lambda c: self._serve(c, self._portmapper, self._portmapper_call),
                host,
                portmapper_port,
                "sim-vxi11-portmapper",
            )
        )

    @property
    def resource(self) -> str:
        """The resource string a VISA client uses: through the portmapper, or the core port directly."""
        return f"TCPIP0::{self.host}::inst0::INSTR" if self._portmapper is not None else self.direct_resource

    @property
    def direct_resource(self) -> str:
        return f"TCPIP0::{self.host},{self.core_port}::inst0::INSTR"

    @property
    def core_port(self) -> int:
        return self._core.port

    @staticmethod
    def can_bind(host: str = "127.0.0.1", port: int = PORTMAPPER_PORT) -> bool:
        """Whether this process may serve the portmapper (a privileged port, and free)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start(self) -> VXI11Server:
        self._core.start()
        try:
            if self._portmapper is not None:
                self._portmapper.start()
        except OSError:
            self._core.stop()
            raise
        return self

    def stop(self) -> None:
        self.instrument.abort()  # a link waiting for trigger events must not hold the shutdown
        if self._portmapper is not None:
            self._portmapper.stop()
        self._core.stop()

    def _serve(self, conn: socket.socket, listener: TCPListener, handler) -> None:
        codec = RPCCodec()
        try:
            while (data := listener.receive(conn)) is not None:
                try:
                    records = codec.feed(data)
                except ValueError:
                    return  # a record past the bound: the connection is closed
                for record in records:
                    try:
                        xid, prog, vers, proc, args = RPCCodec.parse_call(record)
                    except (struct.error, ValueError):
                        continue  # not a call: RPC drops it
                    conn.sendall(handler(xid, prog, vers, proc, args, conn))
        finally:
            self.core.close_owner(conn)

    def _portmapper_call(self, xid, prog, vers, proc, args, conn=None) -> bytes:
        if prog != PMAP_PROG:
            return RPCCodec.reply(xid, PROG_UNAVAIL)
        if vers != PMAP_VERS:
            return RPCCodec.reply(xid, PROG_MISMATCH, struct.pack("!II", PMAP_VERS, PMAP_VERS))
        if proc == 0:
            return RPCCodec.reply(xid, SUCCESS)
        if proc != PMAP_GETPORT:
            return RPCCodec.reply(xid, PROC_UNAVAIL)
        try:
            want_prog, want_vers, prot = args.uint(), args.uint(), args.uint()
        except struct.error:
            return RPCCodec.reply(xid, GARBAGE_ARGS)
        port = self.core_port if (want_prog, want_vers, prot) == (CORE_PROG, CORE_VERS, IPPROTO_TCP) else 0
        return RPCCodec.reply(xid, SUCCESS, struct.pack("!I", port))

    def _core_call(self, xid, prog, vers, proc, args, conn=None) -> bytes:
        if prog != CORE_PROG:
            return RPCCodec.reply(xid, PROG_UNAVAIL)
        if vers != CORE_VERS:
            return RPCCodec.reply(xid, PROG_MISMATCH, struct.pack("!II", CORE_VERS, CORE_VERS))
        status, results = self.core.call(proc, args, conn)
        return RPCCodec.reply(xid, status, results)
