"""pytest-execserver: ``pytest -p execserver`` (also auto-loaded through the ``pytest11`` entry point).

Installing the package must cost nothing to a session that does not use the harness (Hypothesis's pytest
plugin is the model), so this module imports only pytest, pytest-asyncio (which pytest loads anyway) and
three tiny modules of ours (options, marker names, stash keys). The rest is imported when a test uses the
harness: the fixtures below are thin, each importing its implementation (:mod:`.fixtures`, and with it the
client, websockets, Toxiproxy and the OpenTelemetry SDK) on first use; marker parsing (:mod:`.collection`)
runs only for tests that use a harness fixture or marker; the post-test checks (:mod:`.evaluate`) only
for tests with harness state. Spans go to a tracer provider of the harness's own (:mod:`.otel`); the global
one is set only with ``--execserver-otel-global``.

Coroutine tests that use a harness fixture are marked ``asyncio(loop_scope="function")`` (the fixtures'
loop scope), so they run with no asyncio configuration in the project, and in pytest-asyncio's strict mode.

After each test that used the harness (``exec_history``, hence ``exec_client``), the invariants run over
its history and its ``latency_budget`` markers are checked; a violation fails the *test* (raised at the end
of the call phase, so it is reported as a failure, not a teardown error).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
import pytest_asyncio

from pytest_execserver.glue import components
from pytest_execserver.glue.components import Component
from pytest_execserver.glue.marknames import has_harness_marker, misspelled_marker, register, registered_markers
from pytest_execserver.glue.options import (
    UNCONFINED_WARNING,
    ExecServerUnconfinedWarning,
    Settings,
    addoption,
    settings_from_config,
)
from pytest_execserver.glue.runstate import (
    RAN_BY_WORKER_KEY,
    RAN_KEY,
    SETTINGS_KEY,
    TEST_KEY,
    ExecServerCheckFailed,
    TestState,
)

if TYPE_CHECKING:
    from pytest_execserver.checks.invariants import ExecHistory
    from pytest_execserver.client import ExecClient
    from pytest_execserver.faults.kinds import Fault
    from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyServer
    from pytest_execserver.glue.fixtures import ClientFactory, Clients, ExecProxy, ServerManager, _ProxySlot
    from pytest_execserver.glue.load_run import LoadRunner
    from pytest_execserver.report.summary import Summary
    from pytest_execserver.servers.launch import ServerProcess

__all__ = ["ExecServerCheckFailed"]

SUMMARY_KEY: pytest.StashKey[Summary] = pytest.StashKey()


# --------------------------------------------------------------------------------------- configuration


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The fixtures need pytest-asyncio: load it too when plugin autoloading is disabled."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and not pluginmanager.has_plugin("asyncio"):
        with contextlib.suppress(Exception):
            pluginmanager.load_setuptools_entrypoints("pytest11", name="asyncio")


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)
    from pytest_execserver.suites.security.options import add_options  # the shipped security suite's options

    add_options(parser)
    from pytest_execserver.suites.load.options import add_options as add_load_options  # the load suite's

    add_load_options(parser)


# pytest-asyncio's "asyncio_default_fixture_loop_scope is unset" deprecation: every async fixture of ours sets
# its loop scope, so in a session with no pytest configuration at all (the shipped suites run from an empty
# folder) the warning is about nothing the user wrote. A project with a config file still sees it.
ASYNCIO_SCOPE_UNSET_FILTER = (
    'ignore:The configuration option "asyncio_default_fixture_loop_scope" is unset:pytest.PytestDeprecationWarning'
)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if early_config.inipath is None and not early_config.getini("asyncio_default_fixture_loop_scope"):
        early_config.addinivalue_line("filterwarnings", ASYNCIO_SCOPE_UNSET_FILTER)


def pytest_configure(config: pytest.Config) -> None:
    if config.option.markers:  # pytest --markers: spell out the kinds (this loads the fault registry)
        from pytest_execserver.glue.markers import detailed_help

        register(config, detailed_help())
    else:
        register(config)
    workerinput = getattr(config, "workerinput", None)
    worker_seed = workerinput.get("execserver_seed") if workerinput else None
    settings = settings_from_config(config, worker_seed)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(_Reporter(config), "execserver-reporter")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config, settings), "execserver-xdist")
    if settings.unconfined and workerinput is None:
        config.issue_config_time_warning(ExecServerUnconfinedWarning(UNCONFINED_WARNING), stacklevel=2)


def pytest_sessionstart(session: pytest.Session) -> None:
    settings = session.config.stash[SETTINGS_KEY]
    if settings.server_kind == "codex" or settings.server_kind.startswith("codex@"):
        from pytest_execserver.glue.preflight import preflight_codex

        preflight_codex(session.config, "server", settings.server_kind)


class _XdistHooks:
    """Hand the controller's seed to every worker, so one run has one seed; collect what each worker ran."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        ran = getattr(node, "workeroutput", {}).get("execserver_ran")
        if ran:
            _ran_by_worker(self.config)[str(node.gateway.id)] = ran
        from pytest_execserver.glue import load_state  # the workers' load runs, merged at the end

        load_state.add_worker_output(self.config, getattr(node, "workeroutput", {}).get(load_state.WORKEROUTPUT_KEY))
        usage_error = getattr(node, "workeroutput", {}).get(USAGE_ERROR_OUTPUT)
        if usage_error:  # the workers collected no test (see pytest_collection_finish): stop the session once
            raise pytest.UsageError(usage_error)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["execserver_seed"] = self.settings.seed


def _otel() -> Any:
    """The otel module if a test already loaded it (spans exist only then), else None."""
    return sys.modules.get("pytest_execserver.telemetry.otel")


def pytest_unconfigure(config: pytest.Config) -> None:
    otel = _otel()
    if otel is not None:
        otel.flush()


def _confinement_name(settings: Settings) -> str:
    from pytest_execserver.servers.confine import ConfinementError, choose_confinement

    try:
        return choose_confinement(settings.unconfined).value
    except ConfinementError as exc:
        return f"unavailable ({exc})"


def _confinement_brief(settings: Settings) -> str:
    from pytest_execserver.servers.confine import ConfinementError, confinement_brief

    try:
        return confinement_brief(settings.unconfined)
    except ConfinementError as exc:
        return f"unavailable ({exc})"


def _ran_by_worker(config: pytest.Config) -> dict[str, dict[str, dict[str, Any]]]:
    if RAN_BY_WORKER_KEY not in config.stash:
        config.stash[RAN_BY_WORKER_KEY] = {}
    return config.stash[RAN_BY_WORKER_KEY]


def _uses(settings: Settings) -> dict[str, Component]:
    """What this session will use (resolved once per call: the header and the reports share it)."""
    return {
        "toxiproxy": components.toxiproxy(settings.toxiproxy),
        "server": components.server(settings.server_kind),
        "confinement": Component(_confinement_name(settings)),
    }


def _short(component: Component) -> str:
    return component.path or component.kind if component.kind == "url" else component.kind


def _otlp_wanted() -> bool:
    from pytest_execserver.telemetry.otel import otlp_wanted

    return otlp_wanted()


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS_KEY]
    uses = _uses(settings)
    lines = [
        f"execserver: seed={settings.seed}{'' if settings.seed_given else ' (random)'} "
        f"server={settings.server} toxiproxy={_short(uses['toxiproxy'])} mode={settings.mode} "
        f"budget-scale={settings.budget_scale:g} topology={settings.topology} "
        f"confinement={_confinement_brief(settings)}",
        "execserver: uses " + "; ".join(f"{part} {c.describe()}" for part, c in uses.items() if part != "confinement"),
    ]
    if any(k.startswith("OTEL_") for k in os.environ) and _otlp_wanted():
        lines.append("execserver: spans are also exported with OTLP (OTEL_* environment)")
    if settings.unconfined:
        lines.append("execserver: WARNING: " + UNCONFINED_WARNING)
    return lines


# --------------------------------------------------------------------------------------- fixtures
# Thin: each imports its implementation from pytest_execserver.glue.fixtures on first use (see the docstring).

# the async fixtures' event loop scope; coroutine tests that use them get the same
LOOP_SCOPE: Literal["function"] = "function"
HARNESS_FIXTURES = frozenset({
    "exec_server", "exec_scratch", "toxiproxy", "exec_proxy", "exec_client", "exec_client_factory",
    "exec_history", "exec_mode", "exec_fault", "exec_load",
})
RESOURCE_BUDGET_FIXTURE = "_execserver_resource_budget"  # added to every test with a resource_budget marker
CHAOS_PARAM = "exec_fault"  # pytest_execserver.glue.markers.CHAOS_PARAM


def _state(request: pytest.FixtureRequest) -> TestState | None:
    state: TestState | None = request.node.stash.get(TEST_KEY, None)
    return state


@pytest.fixture(scope="session")
def _execserver_servers(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerManager]:
    from pytest_execserver.glue import fixtures

    yield from fixtures.servers(request, tmp_path_factory)


@pytest.fixture
def exec_server(_execserver_servers: ServerManager, request: pytest.FixtureRequest) -> ServerProcess:
    """The session's confined exec-server (restarted if a previous test killed it)."""
    from pytest_execserver.glue import fixtures

    return fixtures.exec_server(_execserver_servers, request)


@pytest.fixture
def exec_scratch(exec_server: ServerProcess, request: pytest.FixtureRequest) -> Path:
    """A fresh directory for this test inside the server's scratch (the only place it may write)."""
    from pytest_execserver.glue import fixtures

    return fixtures.exec_scratch(exec_server, request)


@pytest.fixture(scope="session")
def _execserver_toxiproxy(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    from pytest_execserver.glue import fixtures

    yield from fixtures.toxiproxy_server(request, tmp_path_factory)


@pytest.fixture(scope="session")
def toxiproxy(_execserver_toxiproxy: ToxiproxyServer) -> ToxiproxyControl:
    """A :class:`~pytest_execserver.faults.toxi.ToxiproxyControl` for this worker's Toxiproxy."""
    return _execserver_toxiproxy.control


@pytest.fixture(scope="session")
def _execserver_proxy_slot(toxiproxy: ToxiproxyControl, request: pytest.FixtureRequest) -> Iterator[_ProxySlot]:
    from pytest_execserver.glue import fixtures

    yield from fixtures.proxy_slot(toxiproxy, request)


@pytest.fixture
def exec_history(request: pytest.FixtureRequest) -> ExecHistory:
    """This test's :class:`~pytest_execserver.checks.invariants.ExecHistory`; checked after the test."""
    from pytest_execserver.checks.invariants import ExecHistory

    history = ExecHistory()
    state = _state(request)
    if state is not None:
        state.history = history
    return history


@pytest.fixture
def exec_mode(request: pytest.FixtureRequest) -> str:
    """The client output mode of this test (marker, parametrization or ``--execserver-mode``)."""
    state = _state(request)
    if state is not None and state.mode is not None:
        return state.mode
    return request.config.stash[SETTINGS_KEY].modes[0]


@pytest.fixture
def exec_fault(request: pytest.FixtureRequest) -> Fault | None:
    """The fault this run of a ``chaos(...)`` test is under (None without a ``chaos`` marker)."""
    state = _state(request)
    return None if state is None else state.chaos_fault


@pytest.fixture
def _execserver_clients() -> Clients:
    from pytest_execserver.glue import fixtures

    return fixtures.Clients()


@pytest.fixture
def exec_proxy(
    toxiproxy: ToxiproxyControl,
    exec_server: ServerProcess,
    _execserver_proxy_slot: _ProxySlot,
    _execserver_clients: Clients,
    exec_history: ExecHistory,
    request: pytest.FixtureRequest,
) -> Iterator[ExecProxy]:
    """A Toxiproxy proxy in front of ``exec_server``; this test's fault markers applied."""
    from pytest_execserver.glue import fixtures

    yield from fixtures.exec_proxy(toxiproxy, exec_server, _execserver_proxy_slot, _execserver_clients,
                                   exec_history, request)


@pytest_asyncio.fixture(loop_scope=LOOP_SCOPE)
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
    from pytest_execserver.glue import fixtures

    async for make in fixtures.exec_client_factory(exec_proxy, exec_history, exec_mode, _execserver_clients,
                                                   request):
        yield make


@pytest.fixture
def _execserver_resource_budget(exec_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """Samples ``exec_server`` around a test with a ``resource_budget`` marker (the plugin adds it)."""
    from pytest_execserver.glue import load_run

    yield from load_run.resource_budget(exec_server, request)


@pytest_asyncio.fixture(loop_scope=LOOP_SCOPE)
async def exec_load(exec_client_factory: ClientFactory, exec_proxy: ExecProxy,
                    request: pytest.FixtureRequest) -> AsyncIterator[LoadRunner]:
    """``result = await exec_load(**overrides)``: the ``load`` marker's run through ``exec_proxy``.

    Its clients come from ``exec_client_factory`` (the test's faults and history apply); the marker's
    ``p95_ms``/``thresholds`` (and ``errors==0``) are checked after the test; under xdist the runs of a
    group merge across workers in the summary.
    """
    from pytest_execserver.glue import load_run

    async for run in load_run.exec_load(exec_client_factory, exec_proxy, request):
        yield run


@pytest_asyncio.fixture(loop_scope=LOOP_SCOPE)
async def exec_client(exec_client_factory: ClientFactory) -> ExecClient:
    """A client connected through ``exec_proxy`` in this test's mode, recording to ``exec_history``."""
    return await exec_client_factory()


# --------------------------------------------------------------------------------------- collection


def uses_harness(item: Any) -> bool:
    """Whether ``item`` requests a harness fixture (directly or through another fixture)."""
    return not HARNESS_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Generator[None, Any, Any]:
    """Mark coroutine tests that use the harness ``asyncio(loop_scope=...)`` before pytest-asyncio looks.

    ``trylast`` puts this wrapper inside pytest-asyncio's, so the mark is there when it decides whether an
    item is an asyncio test (strict mode needs the mark; auto mode adds its own, which we leave alone).
    """
    result = yield
    if not inspect.iscoroutinefunction(obj):
        return result
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function) and item.get_closest_marker("asyncio") is None and uses_harness(item):
            item.add_marker(pytest.mark.asyncio(loop_scope=LOOP_SCOPE))
    return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _parametrize_chaos(metafunc)
    if (metafunc.definition.get_closest_marker("resource_budget") is not None
            and RESOURCE_BUDGET_FIXTURE not in metafunc.fixturenames):
        metafunc.fixturenames.append(RESOURCE_BUDGET_FIXTURE)  # last: set up after the test's other fixtures
    if "exec_mode" not in metafunc.fixturenames:
        return
    from pytest_execserver.glue.collection import exec_mode_params

    modes = exec_mode_params(metafunc, metafunc.config.stash[SETTINGS_KEY].modes)
    if modes:
        metafunc.parametrize("exec_mode", modes, ids=modes)


def _parametrize_chaos(metafunc: pytest.Metafunc) -> None:
    """``chaos(*faults)``: one run per fault, through the ``exec_fault`` fixture (ids: the faults)."""
    if metafunc.definition.get_closest_marker("chaos") is None:
        return
    from pytest_execserver.glue.collection import chaos_params

    found = chaos_params(metafunc)
    if found is None:
        return
    faults, ids = found
    if CHAOS_PARAM not in metafunc.fixturenames:
        metafunc.fixturenames.append(CHAOS_PARAM)  # the test need not request it
    metafunc.parametrize(CHAOS_PARAM, faults, ids=ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = misspelled_marker(items, registered_markers(config))
    if problem is not None:
        raise pytest.UsageError(problem)
    ours = [item for item in items if uses_harness(item) or has_harness_marker(item)]
    if not ours:
        return
    from pytest_execserver.glue.collection import build_state
    from pytest_execserver.glue.markers import validate_items

    validate_items(ours)
    loaded = [item for item in ours if item.get_closest_marker("resource_budget") or item.get_closest_marker("load")]
    if loaded:
        from pytest_execserver.glue.load_markers import validate_items as validate_load_items

        validate_load_items(loaded)
    settings = config.stash[SETTINGS_KEY]
    for item in ours:
        item.stash[TEST_KEY] = build_state(item, settings)


USAGE_ERROR_OUTPUT = "execserver_usage_error"  # an xdist worker's confinement failure, for the controller


@pytest.hookimpl(tryfirst=True)  # before an xdist worker reports its collection
def pytest_collection_finish(session: pytest.Session) -> None:
    """Harness tests collected: prove once, before any test, that a server can start here (issue 19)."""
    if session.config.option.collectonly or not any(TEST_KEY in item.stash for item in session.items):
        return
    from pytest_execserver.servers.confine import ConfinementError, check_session

    try:
        check_session(session.config.stash[SETTINGS_KEY].unconfined)
    except ConfinementError as exc:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is None:
            raise pytest.UsageError(f"pytest-execserver: {exc}") from exc
        workeroutput[USAGE_ERROR_OUTPUT] = f"pytest-execserver: {exc}"  # the controller raises it, once
        session.items.clear()


# --------------------------------------------------------------------------------------- running


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    otel = _otel()
    if otel is not None and TEST_KEY in item.stash:
        otel.drain()  # spans of earlier tests
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    state = item.stash.get(TEST_KEY, None)
    if state is None:
        return (yield)
    from pytest_execserver.glue.evaluate import evaluate

    if state.start_timeline is not None:  # the marker faults' at_ms count from the test body's start
        state.start_timeline()
    try:
        result = yield
    except BaseException:
        evaluate(item, state)
        raise
    failure = evaluate(item, state)
    if failure:
        raise ExecServerCheckFailed(failure)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    state = item.stash.get(TEST_KEY, None)
    if state is None or call.when != "call":
        return report
    from pytest_execserver.glue.evaluate import complete_report

    complete_report(item, call, report, state)
    if report.failed:  # the timeline artifact; with --execserver-shrink, the smallest failing schedule
        from pytest_execserver.shrink.forensics import after_failure

        after_failure(item, call, report, state)
    return report


class _Reporter:
    """Collects the per-test records (also the workers' under xdist) and prints/writes the summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def summary(self) -> Summary:
        from pytest_execserver.report.summary import Summary

        if SUMMARY_KEY not in self.config.stash:
            self.config.stash[SUMMARY_KEY] = Summary()
        return self.config.stash[SUMMARY_KEY]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "execserver", None)
        if report.when == "call" and isinstance(record, dict):
            from pytest_execserver.report.summary import report_outcome

            self.summary().add(record, report_outcome(report))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        ran = self.config.stash.get(RAN_KEY, {})
        from pytest_execserver.glue import load_state

        if getattr(self.config, "workerinput", None) is not None:
            self.config.workeroutput["execserver_ran"] = ran  # type: ignore[attr-defined]
            self.config.workeroutput[load_state.WORKEROUTPUT_KEY] = load_state.parts(self.config)  # type: ignore[attr-defined]
            return
        if ran:
            _ran_by_worker(self.config)["main"] = ran
        settings = self.config.stash[SETTINGS_KEY]
        if settings.report is not None:
            summary = self.summary()
            uses = _uses(settings)
            header = {**settings.header(), "modes": summary.modes_run(),
                      "toxiproxy_backend": uses["toxiproxy"].kind, "confinement": uses["confinement"].kind,
                      "uses": {part: c.to_json() for part, c in uses.items()},
                      "ran_by_worker": _ran_by_worker(self.config)}
            header.update(load_state.report_header(self.config, session))
            summary.write_json(settings.report, header)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        config = self.config
        if getattr(config, "workerinput", None) is not None:
            return
        settings = config.stash[SETTINGS_KEY]
        if SUMMARY_KEY not in config.stash and not settings.unconfined and settings.report is None:
            return  # no harness test ran
        summary = self.summary()
        lines = summary.lines()
        if not lines and not settings.unconfined and settings.report is None:
            return
        terminalreporter.section("execserver")
        modes = ", ".join(summary.modes_run()) or settings.mode
        terminalreporter.write_line(
            f"seed {settings.seed} (rerun with --execserver-seed {settings.seed}), server {settings.server}, "
            f"toxiproxy {components.toxiproxy(settings.toxiproxy).describe()}, modes run: {modes}"
        )
        for worker, ran in sorted(_ran_by_worker(config).items()):
            shown = "; ".join(f"{part} {components.from_json(c).describe()}" for part, c in sorted(ran.items()))
            terminalreporter.write_line(f"ran on {worker}: {shown}")
        for line in lines:
            terminalreporter.write_line(line)
        from pytest_execserver.glue import load_state

        for line in load_state.summary_lines(load_state.merged(config)):
            terminalreporter.write_line(line)
        if settings.report is not None:
            terminalreporter.write_line(f"report written to {settings.report}")
        if settings.unconfined:
            terminalreporter.write_line("WARNING: " + UNCONFINED_WARNING, red=True, bold=True)


pytest_plugins = ["pytest_execserver.subjects.fixtures"]  # exec_subject and the client checks (light)
