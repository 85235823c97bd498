"""HiSLIP (IVI-6.1) for the simulated VNA: ``TCPIP0::127.0.0.1::hislip0,PORT::INSTR`` through pyvisa-py.

:class:`HiSLIPCodec` turns bytes into messages and back (16-byte header: "HS", message type,
control code, 32-bit message parameter, 64-bit payload length; IVI-6.1 sec. 2.5) and never
touches a socket. :class:`HiSLIPServer` runs it per connection: the synchronous channel carries
Data/DataEnd program and response messages (a response carries the MessageID of the request it
answers), Trigger and DeviceClearComplete; the asynchronous channel answers AsyncMaxMsgSize,
AsyncStatusQuery (the status byte), AsyncLock/AsyncLockInfo, AsyncRemoteLocalControl and
AsyncDeviceClear. Synchronized mode only (no overlap), protocol version 1.0.

The status byte's MAV bit (message available) is the session's: set when a response goes out,
cleared when the client says it has delivered a whole response to its application (the
RMT-delivered bit of the control code of its next Data, DataEnd, Trigger or AsyncStatusQuery
message, IVI-6.1's way for a server that cannot see its client's buffer), and by a device clear.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from sim_backend.tcp_listener import TCPListener

__all__ = ["HiSLIPCodec", "HiSLIPServer", "MessageType"]

HEADER = struct.Struct("!2sBBIQ")
VERSION = 0x0100
VENDOR = b"SM"
MAX_MESSAGE = 1 << 20
FIRST_MESSAGE_ID = 0xFFFFFF00  # IVI-6.1: the first MessageID a client uses after initialization


class MessageType:
    Initialize, InitializeResponse, FatalError, Error, AsyncLock, AsyncLockResponse = range(6)
    Data, DataEnd, DeviceClearComplete, DeviceClearAcknowledge = 6, 7, 8, 9
    AsyncRemoteLocalControl, AsyncRemoteLocalResponse, Trigger, Interrupted, AsyncInterrupted = 10, 11, 12, 13, 14
    AsyncMaxMsgSize, AsyncMaxMsgSizeResponse, AsyncInitialize, AsyncInitializeResponse = 15, 16, 17, 18
    AsyncDeviceClear, AsyncServiceRequest, AsyncStatusQuery, AsyncStatusResponse = 19, 20, 21, 22
    AsyncDeviceClearAcknowledge, AsyncLockInfo, AsyncLockInfoResponse = 23, 24, 25


class ProtocolError(Exception):
    """The peer broke the framing (bad prologue or an oversized payload): a fatal error."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code


class HiSLIPCodec:
    """Bytes in, (type, control, parameter, payload) messages out; ``pack`` the other way."""

    def __init__(self, max_payload: int = MAX_MESSAGE):
        self.buffer = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            prologue, kind, control, param, length = HEADER.unpack_from(self.buffer)
            if prologue != b"HS":
                raise ProtocolError(1, "Poorly formed message header")
            if length > self.max_payload:
                raise ProtocolError(0, f"payload of {length} bytes exceeds {self.max_payload}")
            if len(self.buffer) < HEADER.size + length:
                break
            payload = bytes(self.buffer[HEADER.size : HEADER.size + length])
            del self.buffer[: HEADER.size + length]
            out.append((kind, control, param, payload))
        return out

    @staticmethod
    def pack(kind: int, control: int = 0, param: int = 0, payload: bytes = b"") -> bytes:
        return HEADER.pack(b"HS", kind, control, param & 0xFFFFFFFF, len(payload)) + payload


class _Session:
    def __init__(self, sid: int, instrument):
        self.sid = sid
        self.exchange = instrument.session()
        self.pending = bytearray()
        self.sync: socket.socket | None = None
        self.locked = False
        self.last_id = 0xFFFFFF00
        self.done_id: int | None = None  # the MessageID of the last message fully executed
        self.done = threading.Condition()
        self.response_out = False  # MAV: a response was sent that the client has not said it delivered

    def delivered(self, control: int) -> None:
        """A message's control code: bit 0 (RMT-delivered) says the client took the whole response."""
        if control & 1:
            self.response_out = False

    def finished(self, message_id: int) -> None:
        with self.done:
            self.done_id = message_id
            self.done.notify_all()

    def wait_for(self, next_id: int, timeout: float) -> None:
        """Until the message before ``next_id`` (the id the client will use next) has been executed:
        a status query then reports what that message did, as in synchronized mode it must."""
        want = (next_id - 2) & 0xFFFFFFFF
        if next_id == FIRST_MESSAGE_ID:
            return  # the client has sent nothing yet
        with self.done:
            self.done.wait_for(lambda: self.done_id == want, timeout)


class HiSLIPServer:
    """Serve a simulated instrument over HiSLIP on ``port`` (0: any free port), loopback by default."""

    def __init__(self, instrument, host: str = "127.0.0.1", port: int = 0):
        self.instrument = instrument
        self.listener = TCPListener(self._serve, host, port, "sim-hislip")
        self._sessions: dict[int, _Session] = {}
        self._next_sid = 1
        self._lock = threading.Lock()

    @property
    def resource(self) -> str:
        return f"TCPIP0::{self.listener.host}::hislip0,{self.listener.port}::INSTR"

    def start(self) -> HiSLIPServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.instrument.abort()  # a session waiting for trigger events must not hold the shutdown
        self.listener.stop()

    def _serve(self, conn: socket.socket) -> None:
        codec = HiSLIPCodec()
        session: _Session | None = None
        channel = None
        try:
            while (data := self.listener.receive(conn)) is not None:
                if not data:
                    continue
                try:
                    messages = codec.feed(data)
                except ProtocolError as e:
                    conn.sendall(HiSLIPCodec.pack(MessageType.FatalError, e.code, 0, str(e).encode()))
                    return
                for kind, control, param, payload in messages:
                    if channel is None:
                        channel, session = self._initialize(conn, kind, param, payload)
                        if channel is None:
                            return
                    elif channel == "sync":
                        try:
                            self._sync_message(conn, session, kind, control, param, payload)
                        except ProtocolError:
                            return
                    else:
                        self._async_message(conn, session, kind, control, param, payload)
        finally:
            if session is not None and channel == "sync":
                with self._lock:
                    self._sessions.pop(session.sid, None)

    def _initialize(self, conn, kind, param, payload):
        if kind == MessageType.Initialize:
            with self._lock:
                sid = self._next_sid
                self._next_sid = (self._next_sid % 0xFFFF) + 1
                session = self._sessions[sid] = _Session(sid, self.instrument)
            session.sync = conn
            conn.sendall(HiSLIPCodec.pack(MessageType.InitializeResponse, 0, (VERSION << 16) | sid))
            return "sync", session
        if kind == MessageType.AsyncInitialize:
            session = self._sessions.get(param & 0xFFFF)
            if session is None:
                conn.sendall(HiSLIPCodec.pack(MessageType.FatalError, 3, 0, b"Invalid Initialization sequence"))
                return None, None
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncInitializeResponse, 0, int.from_bytes(VENDOR, "big")))
            return "async", session
        conn.sendall(
            HiSLIPCodec.pack(
                MessageType.FatalError, 2, 0, b"Attempt to use connection without both channels established"
            )
        )
        return None, None

    def _sync_message(self, conn, s: _Session, kind, control, param, payload) -> None:
        if kind in (MessageType.Data, MessageType.DataEnd, MessageType.Trigger):
            s.delivered(control)
        if kind in (MessageType.Data, MessageType.DataEnd):
            if len(s.pending) + len(payload) > MAX_MESSAGE:  # the maximum message size both sides agreed
                s.pending.clear()
                conn.sendall(
                    HiSLIPCodec.pack(
                        MessageType.FatalError, 0, 0, f"message exceeds the maximum message size {MAX_MESSAGE}".encode()
                    )
                )
                raise ProtocolError(0, "message too large")
            s.pending += payload
            s.last_id = param
            if kind == MessageType.DataEnd:
                text = bytes(s.pending).decode("latin-1")
                s.pending.clear()
                for line in [x for x in text.replace("\r", "").split("\n") if x.strip()]:
                    reply, stall = s.exchange.message(line)
                    if stall:
                        end = time.monotonic() + stall
                        while time.monotonic() < end and not self.listener.stopping.is_set():
                            time.sleep(0.01)
                    if reply is not None:
                        s.response_out = True
                        conn.sendall(HiSLIPCodec.pack(MessageType.DataEnd, 0, param, reply + b"\n"))
            s.finished(param)
        elif kind == MessageType.Trigger:
            s.last_id = param
            with self.instrument.lock:
                self.instrument.bus_trigger()
            s.finished(param)
        elif kind == MessageType.DeviceClearComplete:
            s.pending.clear()
            s.response_out = False
            conn.sendall(HiSLIPCodec.pack(MessageType.DeviceClearAcknowledge, 0))
        else:
            conn.sendall(HiSLIPCodec.pack(MessageType.Error, 1, 0, b"Unrecognized Message Type"))

    def _async_message(self, conn, s: _Session, kind, control, param, payload) -> None:
        if kind == MessageType.AsyncMaxMsgSize:
            asked = struct.unpack("!Q", payload[:8])[0] if len(payload) >= 8 else MAX_MESSAGE
            conn.sendall(
                HiSLIPCodec.pack(MessageType.AsyncMaxMsgSizeResponse, 0, 0, struct.pack("!Q", min(asked, MAX_MESSAGE)))
            )
        elif kind == MessageType.AsyncStatusQuery:
            s.wait_for(param, timeout=2.0)
            s.delivered(control)
            with self.instrument.lock:
                stb = self.instrument.status.stb(message_available=s.response_out)
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncStatusResponse, stb & 0xFF))
        elif kind == MessageType.AsyncDeviceClear:
            s.pending.clear()
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncDeviceClearAcknowledge, 0))
        elif kind == MessageType.AsyncLock:
            s.locked = control == 1
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncLockResponse, 1))
        elif kind == MessageType.AsyncLockInfo:
            holders = sum(1 for x in self._sessions.values() if x.locked)
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncLockInfoResponse, 1 if holders else 0, holders))
        elif kind == MessageType.AsyncRemoteLocalControl:
            conn.sendall(HiSLIPCodec.pack(MessageType.AsyncRemoteLocalResponse))
        else:
            conn.sendall(HiSLIPCodec.pack(MessageType.Error, 1, 0, b"Unrecognized Message Type"))
