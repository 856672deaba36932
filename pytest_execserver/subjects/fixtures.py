"""The client under test as a fixture (``exec_subject``) and the checks on it after each test.

Loaded by the plugin (``pytest_plugins`` in :mod:`pytest_execserver.plugin`) and kept light like it: the
implementation (:mod:`pytest_execserver.subjects.run`) is imported when a test first uses ``exec_subject``.
``--execserver-client`` (ini ``execserver_client``) picks the client: ``ours`` / ``ours:legacy-read`` (our
ExecClient in that mode), ``codex`` / ``codex@VERSION`` (the exec client inside ``codex exec``;
:mod:`pytest_execserver.subjects.codex`) or a command with ``{url}`` (any client speaking the line protocol;
:mod:`pytest_execserver.subjects.subprocess`).

``exec_subject`` connects the client through ``exec_proxy`` (faults apply to it) to ``exec_server``, whose
journal is the ground truth. After a test that used it, :mod:`pytest_execserver.subjects.checks` run over the
journal records of that test and every Outcome; a violation fails the test. The journal's latency phases are
added to the test's history, so ``latency_budget`` markers apply to any client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from pytest_execserver.subjects.spec import is_codex_spec, spec_problem

if TYPE_CHECKING:
    from pytest_execserver.subjects.run import RecordingSubject

CLIENT_OPTION = "execserver_client"
DEFAULT_CLIENT = "ours"


def client_spec(config: pytest.Config) -> str:
    """The ``--execserver-client`` value (command line, then ini, then ``ours``); UsageError when bad."""
    value = config.getoption(CLIENT_OPTION, None)
    where = "--execserver-client"
    if value is None:
        ini = config.getini(CLIENT_OPTION)
        value, where = (ini.strip(), f"ini option {CLIENT_OPTION}") if isinstance(ini, str) and ini.strip() else (
            DEFAULT_CLIENT, "default")
    spec = str(value).strip()
    problem = spec_problem(spec)
    if problem is not None:
        raise pytest.UsageError(f"{where}: {problem}")
    return spec


def pytest_configure(config: pytest.Config) -> None:
    client_spec(config)  # a bad value is a usage error at start-up, not in every test


def pytest_sessionstart(session: pytest.Session) -> None:
    spec = client_spec(session.config)
    if is_codex_spec(spec):
        from pytest_execserver.glue.preflight import preflight_codex

        preflight_codex(session.config, "client", spec)


@pytest_asyncio.fixture
async def exec_subject(exec_proxy: Any, exec_server: Any, exec_scratch: Path, _execserver_clients: Any,
                       request: pytest.FixtureRequest) -> AsyncIterator[RecordingSubject]:
    """The client under test (``--execserver-client``), connected through ``exec_proxy``; checked after the
    test against ``exec_server``'s journal. ``await exec_subject.run_argv(argv, stdin=..., timeout_ms=...)``."""
    from pytest_execserver.subjects.run import open_subject

    async for subject in open_subject(client_spec(request.config), exec_proxy, exec_server, exec_scratch,
                                      _execserver_clients, request.node):
        yield subject


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # innermost wrapper: the journal phases reach the history before the plugin checks latency budgets
    if "exec_subject" not in getattr(item, "fixturenames", ()):
        return (yield)
    from pytest_execserver.subjects.run import client_stderr, evaluate_subject

    try:
        result = yield
    except BaseException:
        failure = evaluate_subject(item)
        if failure:
            item.add_report_section("call", "execserver client checks", failure)
        _add_stderr(item, client_stderr(item))
        raise
    failure = evaluate_subject(item)
    if failure:
        _add_stderr(item, client_stderr(item))
        pytest.fail(failure, pytrace=False)
    return result


def _add_stderr(item: pytest.Item, text: str | None) -> None:
    if text:
        item.add_report_section("call", "execserver client stderr (tail)", text)
