"""The harness fixtures' implementations (public names are a contract, see docs/DESIGN.md section 4).

The fixtures themselves are thin functions on the plugin module (:mod:`pytest_execserver.plugin`) that
import this module when a test first uses one, so a session that never uses the harness never loads the
client, websockets, Toxiproxy or OpenTelemetry.

Scopes: the server and Toxiproxy are started once per session -- that is once per xdist worker, since
each worker is its own session -- and the server is restarted if a test killed it. Everything a test can
perturb is per test: the proxy's toxics are removed and the proxy re-enabled around every test, each
test gets its own history, scratch subdirectory and clients.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import ExecClient, connect
from pytest_execserver.faults.injector import FaultApplyError, Injector
from pytest_execserver.faults.kinds import KINDS, Fault
from pytest_execserver.faults.protolayer import ProtocolLayer
from pytest_execserver.faults.schedule import ScheduledFault
from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyServer, start_toxiproxy
from pytest_execserver.glue import components
from pytest_execserver.glue.options import UNCONFINED_WARNING, ExecServerUnconfinedWarning
from pytest_execserver.glue.preflight import unavailable
from pytest_execserver.glue.runstate import SETTINGS_KEY, TEST_KEY, TestState, record_ran, worker_id
from pytest_execserver.report.artifacts import log_size
from pytest_execserver.servers.codex import CodexUnavailable
from pytest_execserver.servers.confine import Confinement, ConfinementError, choose_confinement
from pytest_execserver.servers.launch import (
    ServerProcess,
    ServerStartError,
    restart_in_place,
    signal_group,
    start_server,
)
from pytest_execserver.telemetry import otel

__all__ = ["UNCONFINED_WARNING", "ClientFactory", "ExecProxy", "ExecServerUnconfinedWarning", "worker_id"]


class ServerManager:
    """Starts the session's server lazily, and again if it died."""

    def __init__(self, config: pytest.Config, root: Path) -> None:
        self.config = config
        self.settings = config.stash[SETTINGS_KEY]
        self.root = root
        self.server: ServerProcess | None = None
        self.start_failure: str | None = None  # the first failed start: later tests point to it
        self.starts = 0
        self.confinement: Confinement | None = None
        self._starter: concurrent.futures.ThreadPoolExecutor | None = None  # restarts in place (see there)

    def current(self, nodeid: str = "") -> ServerProcess:
        if self.server is not None and self.server.is_running():
            return self.server
        reason = unavailable(self.config, "server")
        if reason is not None:
            pytest.skip(reason)
        if self.start_failure is not None:
            pytest.fail(f"the server under test did not start: not tried again; {self.start_failure}", pytrace=False)
        if self.server is not None:
            self.server.stop(0.5)
        try:
            self.confinement = choose_confinement(self.settings.unconfined)
        except ConfinementError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.starts += 1
        scratch = self.root / f"server-{self.starts}"
        try:
            kind = self.settings.server_kind
            if self.settings.topology == "relay" and (kind == "codex" or kind.startswith("codex@")):
                from pytest_execserver.servers.relay_topology import start_relayed_codex

                self.server = start_relayed_codex(kind, scratch, self.confinement)  # codex --remote, our relay
            else:
                self.server = start_server(kind, scratch, confinement=self.confinement,
                                           extra_args=list(self.settings.server_args))
        except ServerStartError as exc:
            self.start_failure = f"see the first failure, in {nodeid}"
            raise ServerStartError(f"the server under test {self.settings.server!r} did not start: {exc}") from None
        except CodexUnavailable as exc:
            message = f"the server under test {self.settings.server!r} cannot be had: {exc}"
            if self.settings.skip_unavailable:
                pytest.skip(message)
            pytest.fail(message, pytrace=False)
        ran = components.ran_server(self.settings.server_kind, self.server.program)
        record_ran(self.config, "server", ran.to_json())
        record_ran(self.config, "confinement", components.Component(self.confinement.value).to_json())
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._starter is not None:
            self._starter.shutdown()

    # --- the process faults' ServerControl (faults/protolayer.py)

    def restart_in_place(self) -> None:
        """``server_restart``: SIGKILL, then the same server on the same address (its sessions lost).

        The new server is started from a thread that lives as long as this manager: bwrap's
        ``--die-with-parent`` (PR_SET_PDEATHSIG) kills a sandbox when the *thread* that forked it exits, so
        a short-lived worker thread would take the restarted server down with it."""
        server = self.server
        if server is None:
            raise RuntimeError("no server under test is running")
        if self._starter is None:
            self._starter = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="execserver-restart")
        self._starter.submit(restart_in_place, server, extra_args=list(self.settings.server_args)).result()

    def pause(self) -> None:
        if self.server is not None:
            signal_group(self.server, signal.SIGSTOP)

    def resume(self) -> None:
        if self.server is not None:
            signal_group(self.server, signal.SIGCONT)


def _state(request: pytest.FixtureRequest) -> TestState | None:
    state: TestState | None = request.node.stash.get(TEST_KEY, None)
    return state


def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerManager]:
    manager = ServerManager(request.config, tmp_path_factory.mktemp("execserver"))
    yield manager
    manager.stop()


def exec_server(manager: ServerManager, request: pytest.FixtureRequest) -> ServerProcess:
    """The session's confined exec-server (restarted if a previous test killed it)."""
    failure = None
    try:
        server = manager.current(request.node.nodeid)
    except ServerStartError as exc:
        failure = str(exc)
    if failure is not None:  # outside the except: one explanation, not two chained
        # this test fails with it, the session stops after it, later tests (other workers) point here
        request.session.shouldstop = "the server under test did not start (the first failure says why)"
        pytest.fail(failure, pytrace=False)
    state = _state(request)
    if state is not None:
        state.server_log = server.log_path
        state.server_log_offset = log_size(server.log_path)
        state.journal = server.journal_path
        state.journal_offset = log_size(server.journal_path)
    return server


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def exec_scratch(exec_server: ServerProcess, request: pytest.FixtureRequest) -> Path:
    """A fresh directory for this test inside the server's scratch (the only place it may write)."""
    base = exec_server.scratch / "tests"
    base.mkdir(exist_ok=True)
    name = _SAFE.sub("_", request.node.name)[:60]
    path = base / name
    n = 1
    while path.exists():
        n += 1
        path = base / f"{name}-{n}"
    path.mkdir()
    if exec_server.confinement is Confinement.UNPRIVILEGED_USER and os.geteuid() == 0:
        st = exec_server.scratch.stat()
        os.chown(base, st.st_uid, st.st_gid)
        os.chown(path, st.st_uid, st.st_gid)
    return path


def toxiproxy_server(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    settings = request.config.stash[SETTINGS_KEY]
    server = start_toxiproxy(settings.toxiproxy, log_dir=tmp_path_factory.mktemp("toxiproxy"),
                             seed=settings.seed)
    ran = components.ran_toxiproxy(server.backend.kind, server.backend.binary, server.url, server.version)
    record_ran(request.config, "toxiproxy", ran.to_json())
    yield server
    server.stop()


class ExecProxy:
    """The proxy in front of ``exec_server``, with the fault methods (see :mod:`pytest_execserver.faults.kinds`).

    Faults applied here last until removed or until the test ends (the proxy is reset between tests).
    """

    def __init__(self, control: ToxiproxyControl, name: str, listen: str, upstream: str,
                 injector: Injector) -> None:
        self.control = control
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.injector = injector
        self.protocol: ProtocolLayer | None = None  # the protocol fault layer (faults/protolayer.py)

    @property
    def url(self) -> str:
        """The proxy's ``ws://`` URL (what clients connect to)."""
        return f"ws://{self.listen}"

    def apply(self, fault: Fault | str, **params: Any) -> Fault:
        """Apply a fault now (or at its ``at_ms``/``after_ms``), e.g. ``apply("latency", ms=50)``."""
        f = Fault(fault, **params) if isinstance(fault, str) else (fault.replace(**params) if params else fault)
        delay = 0.0 if f.params.get("at_ms") is None else f.at_ms  # a cut given no time: now
        self.injector.schedule(f, at_ms=self.injector.elapsed_ms() + delay)
        return f

    # Conveniences with their parameters spelled out; any registered kind also works as
    # ``exec_proxy.<kind>(**params)`` (see __getattr__), and every one is ``apply(kind, **params)``.

    def latency(self, ms: float, jitter: float = 0, direction: str = "both", **timing: Any) -> Fault:
        return self.apply("latency", ms=ms, jitter=jitter, direction=direction, **timing)

    def bandwidth(self, kbps: float, direction: str = "both", **timing: Any) -> Fault:
        return self.apply("bandwidth", kbps=kbps, direction=direction, **timing)

    def slicer(self, average_size: int = 64, size_variation: int = 0, delay_us: int = 0, **kw: Any) -> Fault:
        return self.apply("slicer", average_size=average_size, size_variation=size_variation,
                          delay_us=delay_us, **kw)

    def disconnect(self, after_ms: float | None = None, **params: Any) -> Fault:
        """Cut the connections open at that moment once (then reconnects get through)."""
        if after_ms is not None:
            params["after_ms"] = after_ms
        return self.apply("disconnect", **params)

    def receiver_lag(self, pause_ms: float = 500, queue_limit: int | None = None) -> Fault:
        return self.apply("receiver_lag", pause_ms=pause_ms, queue_limit=queue_limit)

    def __getattr__(self, name: str) -> Callable[..., Fault]:
        if name in KINDS:
            return lambda **params: self.apply(name, **params)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r} (fault kinds: {', '.join(KINDS)})")

    def down(self) -> contextlib.AbstractContextManager[None]:
        """``with exec_proxy.down(): ...``: connections dropped and refused inside the block."""
        return self.injector.down()

    def run_schedule(self, schedule: Sequence[ScheduledFault]) -> None:
        self.injector.run_schedule(schedule)

    def toxics(self) -> list[dict[str, Any]]:
        return self.control.toxics(self.name)

    def reset(self) -> None:
        """Remove every toxic and re-enable the proxy."""
        for toxic in self.control.toxics(self.name):
            self.control.remove_toxic(self.name, str(toxic["name"]))
        self.control.enable(self.name)


class _ProxySlot:
    """The worker's proxy: created once, re-pointed when the server restarts."""

    def __init__(self, control: ToxiproxyControl, name: str) -> None:
        self.control = control
        self.name = name
        self.listen: str | None = None
        self.upstream: str | None = None

    def ensure(self, upstream: str) -> str:
        if self.listen is None:
            with contextlib.suppress(Exception):
                self.control.destroy_proxy(self.name)
            info = self.control.create_proxy(self.name, upstream, listen="127.0.0.1:0")
            self.listen, self.upstream = str(info["listen"]), upstream
        elif upstream != self.upstream:
            self.control.update_proxy(self.name, upstream=upstream)
            self.upstream = upstream
        return self.listen


def proxy_slot(toxiproxy: ToxiproxyControl, request: pytest.FixtureRequest) -> Iterator[_ProxySlot]:
    slot = _ProxySlot(toxiproxy, f"execserver-{worker_id(request.config)}-{os.getpid()}")
    yield slot
    with contextlib.suppress(Exception):
        toxiproxy.destroy_proxy(slot.name)


class Clients:
    """The clients a test made (the injector lags them; they are closed after the test)."""

    def __init__(self) -> None:
        self.clients: list[ExecClient] = []


def exec_proxy(
    toxiproxy: ToxiproxyControl,
    exec_server: ServerProcess,
    _execserver_proxy_slot: _ProxySlot,
    _execserver_clients: Clients,
    exec_history: ExecHistory,
    request: pytest.FixtureRequest,
) -> Iterator[ExecProxy]:
    """A Toxiproxy proxy in front of ``exec_server``; this test's ``fault``/``chaos`` markers applied."""
    upstream = exec_server.url.removeprefix("ws://")
    listen = _execserver_proxy_slot.ensure(upstream)
    injector = Injector(toxiproxy, _execserver_proxy_slot.name, exec_history,
                        lambda: list(_execserver_clients.clients))
    proxy = ExecProxy(toxiproxy, _execserver_proxy_slot.name, listen, upstream, injector)
    proxy.reset()
    # the protocol fault layer: started (and put between Toxiproxy and the server) by the first protocol fault
    layer = ProtocolLayer(exec_server.url, _execserver_proxy_slot.ensure, exec_history,
                          server=request.getfixturevalue("_execserver_servers"),
                          clients=lambda: list(_execserver_clients.clients))
    layer.errors = injector.errors  # a process fault that fails fails the test, like a toxic that fails
    injector.protocol = proxy.protocol = layer
    state = _state(request)
    if state is not None:
        state.fault_errors = injector.errors  # a fault that fails to apply later fails the test (plugin)
        # Faults that shape traffic from the start are in place before the clients connect; every other
        # marker fault runs on the test body's clock (see start_timeline), so where a timed fault lands
        # does not depend on how long the fixtures took to set up.
        early = [f for f in state.faults if f.spec.applies_before_clients(f.params)]
        for fault in early:
            injector.schedule(fault)
        later = [f for f in state.faults if not f.spec.applies_before_clients(f.params)]
        schedule = list(state.schedule)

        def start_timeline() -> None:
            injector.restart_clock()
            try:
                for fault in later:
                    injector.schedule(fault)
                injector.run_schedule(schedule)
            except FaultApplyError:
                pass  # in injector.errors: the test fails with it after its body (plugin)

        state.start_timeline = start_timeline
    try:
        yield proxy
    finally:
        injector.stop()
        layer.stop()
        if state is not None:
            state.applied_kinds.update(f.kind for f in injector.applied)
            state.record["fault_errors"] = list(injector.errors)


ClientFactory = Callable[..., Awaitable[ExecClient]]


async def exec_client_factory(
    exec_proxy: ExecProxy,
    exec_history: ExecHistory,
    exec_mode: str,
    _execserver_clients: Clients,
    request: pytest.FixtureRequest,
) -> AsyncIterator[ClientFactory]:
    """``await exec_client_factory(mode=None, direct=False, **connect_kwargs)``: more clients.

    Clients connect through ``exec_proxy`` (``direct=True``: straight to the server), record into
    ``exec_history`` and are closed after the test. ``receiver_lag`` faults reach every client made here.
    """
    made = _execserver_clients
    otel.install(make_global=request.config.stash[SETTINGS_KEY].otel_global)

    async def make(mode: str | None = None, *, direct: bool = False, **kwargs: Any) -> ExecClient:
        url = exec_proxy.upstream if direct else exec_proxy.listen
        kwargs.setdefault("client_id", f"c{len(made.clients) + 1}")
        kwargs.setdefault("request_timeout_s", 10.0)
        client = await connect(f"ws://{url}", mode=mode or exec_mode, history=exec_history, **kwargs)
        made.clients.append(client)
        for fault in exec_proxy.injector.applied:  # e.g. a lag applied before this client existed
            fault.spec.on_new_client(fault, client)
        return client

    yield make
    for client in reversed(made.clients):
        with contextlib.suppress(Exception):
            await client.close()
