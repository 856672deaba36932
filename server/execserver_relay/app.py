"""The aiohttp layer: registry endpoints, the ``/relay`` websocket and the ``/faults`` API on one port.

A thin loop around :class:`~execserver_relay.registry.Registry` and
:class:`~execserver_relay.router.RelayRouter`: requests and frames go in, the returned replies and actions
are performed. Each websocket has one writer task draining an ordered queue, so a delayed frame holds back
the frames behind it on that connection (and only there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from execserver_relay.faults import FaultPlan, FaultSpecError, ReregisterFault, fault_from_json
from execserver_relay.frames import MAX_MESSAGE_BYTES
from execserver_relay.journal import Journal
from execserver_relay.registry import Registry, Reply
from execserver_relay.router import Action, Admit, Close, Event, RelayRouter, Send

_TRACE_HEADERS = ("traceparent", "tracestate", "x-request-id")


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[Send | Close] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None


class RelayService:
    """One registry + relay; ``base_http`` (``http://127.0.0.1:PORT``) is set once the site is bound."""

    def __init__(self, journal: Journal, *, auth_token: str | None = None, plan: FaultPlan | None = None) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        self.journal = journal
        self.router = RelayRouter(self.plan)
        self.registry = Registry(self._url_for, plan=self.plan, auth_token=auth_token)
        self.base_http = ""
        self.rendezvous: dict[str, str] = {}  # role -> ws://127.0.0.1:PORT its rendezvous URLs use (POST /rendezvous)
        self._sockets: dict[int, _Socket] = {}

    def _url_for(self, role: str, environment_id: str, registration_id: str, ws_base: str | None) -> str:
        base = self.rendezvous.get(role) or ws_base or self.base_http.replace("http://", "ws://", 1)
        url = f"{base}/relay?role={role}&environment_id={environment_id}"
        return url + (f"&executor_registration_id={registration_id}" if role == "environment" else "")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._log_unknown])
        app.router.add_post("/cloud/environment/{env}/register", self._registry("register"))
        app.router.add_post("/cloud/environment/{env}/direct/register", self._registry("direct_register"))
        app.router.add_post("/cloud/environment/{env}/connect", self._registry("connect"))
        app.router.add_post("/cloud/environment/{env}/validate", self._registry("validate"))
        app.router.add_get("/relay", self._relay)
        app.router.add_get("/faults", self._faults_get)
        app.router.add_post("/faults", self._faults_post)
        app.router.add_delete("/faults", self._faults_delete)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_post("/rendezvous", self._rendezvous_post)
        app.on_shutdown.append(self._shutdown)
        return app

    # -- registry -----------------------------------------------------------------------------------

    def _registry(self, endpoint: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            env = request.match_info["env"]
            self.journal.write(f"{endpoint}_request", environment_id=env, **_trace_fields(request))
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            auth = request.headers.get("Authorization", "")
            bearer = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            reply: Reply = self.registry.handle(endpoint, env, body, bearer, _loopback_base(request.host))
            if endpoint in ("register", "direct_register") and reply.status == 200:
                self.router.registered.add(env)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            self.journal.write(endpoint, environment_id=env, status=reply.status, injected=reply.injected,
                               **({"valid": reply.body["valid"]} if "valid" in reply.body else {}))
            return web.json_response(reply.body, status=reply.status)

        return handler

    # -- relay --------------------------------------------------------------------------------------

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        role, env = request.query.get("role"), request.query.get("environment_id")
        self.journal.write("ws_upgrade", role=role, environment_id=env, **_trace_fields(request))
        decision, actions = self.router.open(role, env)
        self._perform(actions)
        if not isinstance(decision, Admit):
            return web.Response(status=decision.status, headers=decision.headers, text=decision.reason)
        conn = decision.conn
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True, compress=False)
        await ws.prepare(request)
        socket = _Socket(ws)
        socket.writer = asyncio.create_task(self._write(socket))
        self._sockets[conn] = socket
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    self._perform(self.router.receive(conn, message.data))
                elif message.type == WSMsgType.TEXT:
                    self._perform([Event("text_frame", {"conn": conn}), Close(conn, 1003, "binary frames only"),
                                   *self.router.close(conn)])
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self._perform(self.router.close(conn))
            self._sockets.pop(conn, None)
            if socket.writer is not None:
                socket.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await socket.writer
        return ws

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Event):
                self.journal.write(action.event, **action.fields)
                continue
            socket = self._sockets.get(action.conn)
            if socket is not None:
                socket.queue.put_nowait(action)

    async def _write(self, socket: _Socket) -> None:
        while True:
            action = await socket.queue.get()
            try:
                if isinstance(action, Close):
                    await socket.ws.close(code=action.code, message=action.reason.encode())
                    return
                if action.delay_s:
                    await asyncio.sleep(action.delay_s)
                await socket.ws.send_bytes(action.data)
            except (ConnectionError, RuntimeError):
                return  # the peer is gone; the reader loop sees the close

    # -- faults -------------------------------------------------------------------------------------

    async def _faults_get(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self.plan.to_json(), "streams": self.router.streams})

    async def _faults_post(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            specs = body.get("faults", [body]) if isinstance(body, dict) else body
            if not isinstance(specs, list):
                raise FaultSpecError("expected {'faults': [...]} or one fault object")
            faults = [fault_from_json(spec) for spec in specs]
        except (json.JSONDecodeError, FaultSpecError) as exc:
            return web.json_response({"error": {"code": "invalid_fault", "message": str(exc)}}, status=400)
        for fault in faults:
            self.journal.write("fault_installed", fault=fault.kind)
            if isinstance(fault, ReregisterFault):
                self._perform(self.router.reregister(fault.environment_id))
            else:
                self.plan.add(fault)
        return web.json_response({"faults": self.plan.to_json()})

    async def _faults_delete(self, request: web.Request) -> web.Response:
        self.plan.clear()
        return web.json_response({"faults": []})

    async def _rendezvous_post(self, request: web.Request) -> web.Response:
        """``{"harness": "ws://127.0.0.1:PORT"}``: hand that role rendezvous URLs on that loopback address (a
        Toxiproxy listener in front of this relay); ``null`` restores the default."""
        try:
            body = await request.json()
            if not isinstance(body, dict) or not set(body) <= {"harness", "environment"}:
                raise ValueError("expected {'harness'|'environment': 'ws://127.0.0.1:PORT' or null}")
            for role, base in body.items():
                if base is not None and _loopback_base(str(base).removeprefix("ws://")) != base:
                    raise ValueError(f"{role}: {base!r} is not ws://<loopback IP>:PORT")
        except (json.JSONDecodeError, ValueError) as exc:
            return web.json_response({"error": {"code": "invalid_rendezvous", "message": str(exc)}}, status=400)
        for role, base in body.items():
            if base is None:
                self.rendezvous.pop(role, None)
            else:
                self.rendezvous[role] = base
        self.journal.write("rendezvous_set", **body)
        return web.json_response({"rendezvous": self.rendezvous})

    async def _readyz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    @web.middleware
    async def _log_unknown(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPNotFound:
            self.journal.write("unknown_route", method=request.method, path=request.path)
            raise
        return response

    async def _shutdown(self, app: web.Application) -> None:
        for socket in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await socket.ws.close(code=1001, message=b"relay shutting down")


def _loopback_base(host: str) -> str | None:
    """``ws://HOST:PORT`` for the Host a caller used, if it is a loopback IP (e.g. a Toxiproxy listener)."""
    name, sep, port = host.rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        loopback = ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return None
    return f"ws://{host}" if loopback else None


def _trace_fields(request: web.Request) -> dict[str, str]:
    return {name.replace("-", "_"): request.headers[name] for name in _TRACE_HEADERS if name in request.headers}
