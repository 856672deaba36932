"""Fixtures for the codex-client tests: the real ``codex exec`` driven by a scripted model, through the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.servers.codex import CodexUnavailable
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.subjects.codex import CodexSubject


@pytest_asyncio.fixture
async def codex_subject(exec_proxy: ExecProxy, exec_server: ServerProcess,
                        tmp_path: Path) -> AsyncIterator[CodexSubject]:
    """codex's exec client, pointed at ``exec_proxy``; every codex process is killed in teardown."""
    subject = CodexSubject(exec_proxy.url, tmp_path / "codex-client", confinement=exec_server.confinement)
    try:
        await subject.start()
    except CodexUnavailable as exc:
        pytest.skip(f"codex unavailable: {exc}")
    try:
        yield subject
    finally:
        await subject.close()


@pytest.fixture
def journal_path(exec_server: ServerProcess) -> Path:
    """The reference server's journal (the ground truth for every check here)."""
    path = getattr(exec_server, "journal_path", None)
    if path is None:
        pytest.skip(f"the codex-client checks read the reference server's journal; {exec_server.kind} has none")
    return Path(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    from tests.codex_client.test_codex_bench import BENCH_TABLE, table_lines

    rows = config.stash.get(BENCH_TABLE, None)
    if rows:
        terminalreporter.section("codex exec client benchmark")
        for line in table_lines(rows):
            terminalreporter.write_line(line)
