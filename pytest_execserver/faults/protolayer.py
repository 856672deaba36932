"""The protocol fault layer of one test: the websocket/JSON-RPC fault proxy put in the harness's path.

The path is ``client -> Toxiproxy proxy -> protocol proxy -> server``. Clients keep the one URL they were
given (Toxiproxy's), Toxiproxy's toxics act on the bytes the client sees, and the protocol proxy sits in
front of the server like an L7 sidecar; a Toxiproxy cut closes the protocol proxy's connection to the
server, as a cut the server sees. The layer starts only when a test arms its first protocol fault
(:meth:`ProtocolLayer.arm`): Toxiproxy is then re-pointed at it, and back at the server when the test ends,
so a test without protocol faults runs exactly as before.

Each fired fault is recorded as a ``fault`` history event (``action="apply"``, at the proxy's time of the
matched message; ``"remove"`` when a timed one ends), so the timeline draws it and the recovery checks
count a cut by ``close``/``cut``/``blackhole``/``server_restart`` like a Toxiproxy cut. The process kinds
act here: ``server_restart`` and ``server_pause`` through :class:`ServerControl`, ``client_pause`` on the
test's clients (an adapter's process group is stopped, see ``SubjectLag``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from pytest_execserver.checks.history import History
from pytest_execserver.faults.injector import record_fault
from pytest_execserver.faults.kinds import Fault, LaggableClient
from pytest_execserver.faults.protocol import Fault as ProxyFault
from pytest_execserver.faults.protocol import FaultEvent, ProxyThread

# Kinds whose window outlasts the firing: they end later ("remove" then: a pause's timer, a timed blackhole's
# end event) or with the test (an untimed blackhole, mute_pongs).
LASTING_KINDS = ("server_pause", "client_pause", "blackhole", "mute_pongs")


class ServerControl(Protocol):
    """What the process kinds do to the server under test (the harness's ``ServerManager``)."""

    def restart_in_place(self) -> None: ...  # SIGKILL, then the same program on the same address

    def pause(self) -> None: ...  # SIGSTOP its process group

    def resume(self) -> None: ...  # SIGCONT its process group


class ProtocolLayer:
    """The protocol proxy of one test (started on first use) and what its fired faults do."""

    def __init__(self, server_url: str, repoint: Callable[[str], object], history: History | None,
                 server: ServerControl | None = None,
                 clients: Callable[[], Sequence[LaggableClient]] = lambda: ()) -> None:
        self.server_url = server_url
        self.repoint = repoint  # (host:port) -> None: where Toxiproxy sends its connections
        self.history = history
        self.server = server
        self.clients = clients
        self.errors: list[str] = []
        self.fired: list[FaultEvent] = []
        self._thread: ProxyThread | None = None
        self._armed: list[tuple[ProxyFault, Fault]] = []
        self._timers: list[threading.Timer] = []
        self._paused = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def address(self) -> str:
        """The proxy's ``127.0.0.1:PORT`` (starting it)."""
        return self._start().url.removeprefix("ws://")

    def _start(self) -> ProxyThread:
        with self._lock:
            if self._thread is None:
                thread = ProxyThread(self.server_url, on_fire=self._on_fire).start()
                self._thread = thread
                self.repoint(thread.url.removeprefix("ws://"))
            return self._thread

    def arm(self, fault: Fault) -> None:
        """Arm ``fault`` (a protocol kind of the registry); its ``nth`` counts messages from now on."""
        proxy_fault: ProxyFault = fault.spec.protocol_fault(fault.params)  # type: ignore[attr-defined]
        thread = self._start()
        self._armed.append((proxy_fault, fault))
        thread.arm(proxy_fault)

    def _fault_of(self, event: FaultEvent) -> Fault | None:
        for proxy_fault, fault in self._armed:
            if (proxy_fault.kind, proxy_fault.trigger.spec, proxy_fault.nth, proxy_fault.params()) == (
                    event.kind, event.on, event.nth, event.params):
                return fault
        return None

    async def _on_fire(self, event: FaultEvent) -> None:
        """On the proxy's loop, as the matched message passes (that direction waits for it)."""
        self.fired.append(event)
        fault = self._fault_of(event)
        if fault is None:  # pragma: no cover - every armed fault is in _armed
            return
        where = {"conn": event.conn, "direction": event.direction, "message": event.message}
        if event.phase == "end":
            record_fault(self.history, "remove", fault, at_ns=event.t_ns, **where)
            return
        if event.phase != "fire":
            record_fault(self.history, event.phase, fault, at_ns=event.t_ns, **where)
            return
        record_fault(self.history, "apply", fault, at_ns=event.t_ns, **where)
        try:
            await self._act(fault)
        except Exception as exc:  # reported (the plugin fails the test with it), never kills the proxy
            self.errors.append(f"fault {fault!r} failed: {type(exc).__name__}: {exc}")
            record_fault(self.history, "error", fault, message=self.errors[-1])
            return
        if fault.kind not in LASTING_KINDS:
            record_fault(self.history, "remove", fault)  # one-shot: its window is the act (a restart's downtime)

    async def _act(self, fault: Fault) -> None:
        if fault.kind == "server_restart":
            server = self._server(fault)
            await asyncio.to_thread(server.restart_in_place)
        elif fault.kind == "server_pause":
            server = self._server(fault)
            server.pause()
            self._paused = True
            self._later(float(fault["ms"]), lambda: self._resume_server(fault))
        elif fault.kind == "client_pause":
            clients = list(self.clients())
            if not clients:
                raise RuntimeError("no client under test to pause")
            for client in clients:
                client.pause_consumer(float(fault["ms"]))  # an adapter: its process group is SIGSTOPped
            self._later(float(fault["ms"]), lambda: record_fault(self.history, "remove", fault))

    def _server(self, fault: Fault) -> ServerControl:
        if self.server is None:
            raise RuntimeError(f"{fault.kind} needs the harness's server (exec_server)")
        return self.server

    def _resume_server(self, fault: Fault) -> None:
        if self._paused and self.server is not None:
            self.server.resume()
            self._paused = False
            record_fault(self.history, "remove", fault)

    def _later(self, ms: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(ms / 1000, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def stop(self) -> None:
        """Resume a paused server, stop the proxy, and point Toxiproxy back at the server."""
        for timer in self._timers:
            timer.cancel()
        if self._paused and self.server is not None:
            with contextlib.suppress(Exception):
                self.server.resume()
            self._paused = False
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                self.repoint(self.server_url.removeprefix("ws://"))
            finally:
                thread.stop()
