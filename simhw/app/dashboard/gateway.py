"""The dashboard's HTTP and WebSocket gateway (aiohttp), a client of the daemon like any other.

It speaks to the daemon over its ZeroMQ API (one :class:`DaemonClient`, requests serialised in a
worker thread) and follows its PUB stream, forwarding every telemetry message to the browsers on
``/ws``. It serves one page (``static/index.html`` and ``dashboard.js``, no build step) and a JSON API
under ``/api`` with the daemon's read operations; the control operations (push a stored
configuration, measure, calibrate, cancel) are POSTs that need a control token. It adds nothing to
the daemon's push path: it is one more client and one more subscriber, it reads the PUB stream in
batches on its own clock, and it coalesces the push telemetry (at most one message per
``telemetry.PUSH_EVERY_S``) and the heartbeats, so a busy bench keeps neither the gateway nor a browser waking up.

Access: from loopback the page and the read API are open and control needs a control token; from
anywhere else every request needs a token (:mod:`.tokens`), and a read token gives a read-only page.
``require_token`` treats loopback like anywhere else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import ipaddress
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from aiohttp import WSMsgType, web

from simhw.app.dashboard.report import calibration_report
from simhw.app.dashboard.telemetry import forward_telemetry
from simhw.app.dashboard.tokens import TokenChecker
from simhw.control.client import DaemonClient, DaemonError
from simhw.control.operations import OPERATIONS
from simhw.values.measurement import Measurement

__all__ = ["Gateway", "API"]

STATIC = Path(__file__).with_name("static")
ROLE = web.RequestKey("role", str)
BOARD_STATUS_EVERY_S = 5.0  # the board's live STATUS is read at most this often for all pages together
API = {  # path -> (method, needs control, the handler method, what it answers): each route declared once
    "/api": ("GET", False, "api_index", "the caller's role and this table"),
    "/api/status": ("GET", False, "status", "the daemon's status and the board's live STATUS"),
    "/api/pushes": ("GET", False, "pushes", "the last pushes (?limit=)"),
    "/api/configs": ("GET", False, "listing", "stored configurations (?limit=)"),
    "/api/measurements": ("GET", False, "listing", "stored measurements (?limit=)"),
    "/api/measurement/{id}": ("GET", False, "measurement", "one measurement: frequencies, parameters, S as re/im"),
    "/api/measurement/{id}/touchstone": ("GET", False, "touchstone", "one measurement as a Touchstone file"),
    "/api/calibrations": ("GET", False, "listing", "stored calibrations (?limit=)"),
    "/api/calibration/{id}": ("GET", False, "calibration", "one calibration (stages, metrics), without the model"),
    "/api/calibration/{id}/report": ("GET", False, "report", "one calibration's report page"),
    "/api/events": ("GET", False, "events", "stored events (?kind=&limit=)"),
    "/api/push": ("POST", True, "push", 'push a stored configuration: {"hash": ...}'),
    "/api/measure": ("POST", True, "measure", "measure now"),
    "/api/calibrate": ("POST", True, "calibrate", 'start a calibration: {"stages": .., "slots": ..} (optional)'),
    "/api/cancel": ("POST", True, "cancel", 'cancel a calibration job: {"job": ...}'),
}
#: HTTP status of the daemon's error codes (any other: 502, the daemon failed)
DAEMON_STATUS = {"not_found": 404, "bad_request": 400, "busy": 409, "timeout": 504}
UNAUTHORIZED_PAGE = (
    "<!doctype html><title>simhw bench: token needed</title><h1>A token is needed</h1><p>{why}</p>"
    "<p>Ask the bench's operator for one (<code>simhw dashboard token --bench bench.toml --client "
    "NAME</code>) and open this page as <code>/?token=...</code>.</p>"
)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _json(data, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=_jsonable), status=status, content_type="application/json")


class Gateway:
    def __init__(
        self,
        request_endpoint: str,
        publish_endpoint: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        curve: tuple | None = None,
        server_key: str | None = None,
        keys_dir: str | None = None,
        require_token: bool = False,
        timeout: float = 30.0,
    ):
        """``curve``: (daemon public key file, this gateway's secret key file) for a CURVE daemon;
        ``server_key`` and ``keys_dir``: the daemon's secret key file and its allow-list, which issue and
        check the bearer tokens (no tokens without them: then only loopback is served)."""
        if not _is_loopback(host) and not (server_key and keys_dir):
            raise ValueError(
                "serving the dashboard beyond loopback needs tokens: give the daemon's server key "
                "and its allow-list of client keys"
            )
        if require_token and not (server_key and keys_dir):
            raise ValueError(
                "--require-token needs tokens, and tokens need the daemon's CURVE keys: set "
                "daemon.server_key and daemon.keys in the bench file (create them with 'simhw keys'), "
                "then 'simhw dashboard keys --bench ...' and 'simhw dashboard token --bench ...'"
            )
        self.request_endpoint, self.publish_endpoint = request_endpoint, publish_endpoint
        self.host, self.port, self.curve, self.timeout = host, port, curve, timeout
        self.tokens = TokenChecker(server_key, keys_dir)
        self.require_token = require_token
        # reads are answered at once by the daemon; what needs the hardware waits its turn on its own thread
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-client")
        self._hw_pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-hardware")
        self._clients = threading.local()  # one DaemonClient per thread
        self._board_refresh: cf.Future | None = None
        self._sockets: set = set()
        self._board_status: tuple | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopped: asyncio.Event | None = None
        self.url = ""

    # ------------------------------------------------------------------ the daemon
    def _call(self, name: str, *args, **kwargs):
        client = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = DaemonClient(
                self.request_endpoint, timeout=self.timeout, curve=self.curve, name="dashboard"
            )
        return getattr(client, name)(*args, **kwargs)

    def _pool_of(self, name: str) -> cf.ThreadPoolExecutor:
        return self._hw_pool if OPERATIONS[name].hardware else self._pool

    async def daemon(self, name: str, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self._pool_of(name), lambda: self._call(name, *args, **kwargs)
        )

    def _refresh_board_status(self) -> None:
        """Read the board's live STATUS in the background (it waits behind any running job); a page
        is answered with the last one read, never made to wait for the hardware."""
        if self._board_refresh is not None and not self._board_refresh.done():
            return

        def read():
            try:
                result = self._call("board_status")
            except DaemonError as e:
                result = {"error": str(e)}
            self._board_status = (time.monotonic(), result)

        self._board_refresh = self._hw_pool.submit(read)

    # ------------------------------------------------------------------ access
    def access(self, request: web.Request) -> tuple[str | None, str]:
        """(the role of this request, 'read' or 'control', or None when it must be refused; why)."""
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else request.query.get("token")
        if token:  # a token that was given decides, on loopback too: a bad one is refused, not read-only
            role = self.tokens.role(token)
            return (
                role,
                ""
                if role
                else "this token is not valid: malformed, altered, or its client is no "
                "longer on the daemon's allow-list",
            )
        if _is_loopback(request.remote) and not self.require_token:
            return "read", ""
        return None, "a bearer token is required from this address (?token=... or Authorization: Bearer ...)"

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if request.path.startswith("/static/"):  # the page's script and style hold no bench data
            return await handler(request)
        role, why = self.access(request)
        if role is None:
            if request.path == "/":
                return web.Response(text=UNAUTHORIZED_PAGE.format(why=why), status=401, content_type="text/html")
            return _json({"error": "unauthorized", "message": why}, 401)
        if request.method == "POST" and role != "control":
            return _json({"error": "forbidden", "message": "this token is read-only"}, 403)
        request[ROLE] = role
        try:
            return await handler(request)
        except DaemonError as e:
            code = getattr(e, "code", "daemon")
            return _json({"error": code, "message": str(e)}, DAEMON_STATUS.get(code, 502))
        except (KeyError, ValueError, TypeError, OverflowError) as e:
            return _json({"error": "bad_request", "message": str(e)}, 400)

    # ------------------------------------------------------------------ handlers
    async def index(self, request):
        return web.FileResponse(STATIC / "index.html")

    async def static(self, request):
        name = request.match_info["name"]
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def api_index(self, request):
        return _json(
            {
                "role": request[ROLE],
                "api": {p: {"method": m, "control": c, "doc": d} for p, (m, c, _, d) in API.items()},
            }
        )

    async def status(self, request):
        st = await self.daemon("status")
        if self._board_status is None or time.monotonic() - self._board_status[0] > BOARD_STATUS_EVERY_S:
            self._refresh_board_status()  # the board is asked at most this often, however many pages are open
        st["board_status"] = None if self._board_status is None else self._board_status[1]
        st["role"] = request[ROLE]
        return _json(st)

    def _limit(self, request) -> int:
        return max(1, min(int(request.query.get("limit", 20)), 1000))

    async def pushes(self, request):
        return _json((await self.daemon("pushes", limit=self._limit(request)))[::-1])  # newest first

    async def listing(self, request):
        name = request.path.rsplit("/", 1)[1]
        return _json(await self.daemon(name, limit=self._limit(request)))

    async def _measurement(self, request) -> Measurement:
        return await self.daemon("measurement", int(request.match_info["id"]))

    async def measurement(self, request):
        m = await self._measurement(request)
        return _json(
            {
                **m.record(),
                "id": m.id,
                "receive_ports": m.receive_ports,
                "source_port": m.source_port,
                "frequencies": m.frequencies,
                "re": m.s.real,
                "im": m.s.imag,
            }
        )

    async def touchstone(self, request):
        with tempfile.TemporaryDirectory() as tmp:
            m = await self._measurement(request)
            body = Path(path := m.to_touchstone(Path(tmp) / f"measurement-{m.id}")).read_bytes()
        return web.Response(
            body=body,
            content_type="text/plain",
            headers={"Content-Disposition": f'attachment; filename="{Path(path).name}"'},
        )

    async def calibration(self, request):
        return _json((await self.daemon("calibration", int(request.match_info["id"]), model=False))[0])

    async def report(self, request):
        rec = (await self.daemon("calibration", int(request.match_info["id"]), model=False))[0]
        return web.Response(text=calibration_report(rec), content_type="text/html")

    async def events(self, request):
        kind = request.query.get("kind") or None
        return _json(await self.daemon("events", kind=kind, limit=self._limit(request)))

    async def _body(self, request) -> dict:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    async def push(self, request):
        body = await self._body(request)
        config = await self.daemon("config", str(body["hash"]))
        return _json(await self.daemon("push", config))

    async def measure(self, request):
        return _json((await self.daemon("measure")).record())

    async def calibrate(self, request):
        body = await self._body(request)
        params = {k: int(body[k]) for k in ("stages", "slots") if k in body}
        return _json({"job": await self.daemon("calibrate", **params)})

    async def cancel(self, request):
        body = await self._body(request)
        return _json({"cancelled": await self.daemon("cancel", str(body["job"]))})

    async def websocket(self, request):
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        self._sockets.add(ws)
        await ws.send_json({"topic": "hello", "data": {"role": request[ROLE]}})
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------ telemetry to the browsers
    async def _broadcast(self, text: str) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                try:
                    await ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    self._sockets.discard(ws)

    # ------------------------------------------------------------------ running
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/static/{name}", self.static)
        r.add_get("/ws", self.websocket)
        for path, (method, _, name, _) in API.items():
            r.add_route(method, path, getattr(self, name))
        return app

    async def serve(self) -> None:
        """Serve until :meth:`stop` (from any thread)."""
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}/"
        forward = asyncio.create_task(forward_telemetry(self.publish_endpoint, self.curve, self._broadcast))
        self._started.set()
        try:
            await self._stopped.wait()
        finally:
            forward.cancel()
            for ws in list(self._sockets):
                await ws.close()
            await self._runner.cleanup()
            for pool in (self._pool, self._hw_pool):  # each thread closes its own client after its last call
                pool.submit(self._close_client)
                pool.shutdown(wait=False)

    def _close_client(self) -> None:
        client = getattr(self._clients, "client", None)
        if client is not None:
            client.close()

    def start(self, timeout: float = 30.0) -> Gateway:
        """Serve from a thread of this process; returns once it listens (``self.url``)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), name="simhw-dashboard", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the dashboard did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
