"""``sandboxDenied`` (issue 11): a sandboxed process whose write is refused exits with ``sandboxDenied: true``
on ``process/exited`` and ``process/read``; allowed, plain failures and unsandboxed processes report false;
an older server (``--omit-sandbox-denied``) leaves the field off ``process/exited``. Reference and codex.

The policy names no host path: ``minimal`` (codex's platform read set: the shell and its libraries) plus the
scratch work directory, read-only or writable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.journal import Journal
from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server
from pytest_execserver.waiting import wait_until

from .refclient import Client, start_params, uri

MINIMAL = {"path": {"type": "special", "value": {"kind": "minimal"}}, "access": "read"}


def sandbox(work: Path, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "permissions": {
            "type": "managed",
            "file_system": {"type": "restricted", "entries": [MINIMAL, *entries]},
            "network": "restricted",
        },
        "cwd": uri(work),
        "windowsSandboxLevel": "disabled",
    }


def entry(path: Path, access: str) -> dict[str, Any]:
    return {"path": {"type": "path", "path": uri(path)}, "access": access}


@pytest.fixture(scope="module", params=["ref", "codex", "ref-omit"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    kind = request.param
    if kind == "codex":
        try:
            codex_binary()
        except CodexUnavailable as exc:
            pytest.skip(f"real codex exec-server unavailable: {exc}")
    scratch = tmp_path_factory.mktemp(f"sandbox-{kind}") / "scratch"
    extra = ["--omit-sandbox-denied"] if kind == "ref-omit" else []
    srv = start_server(kind.removesuffix("-omit"), scratch, confinement=choose_confinement(), extra_args=extra)
    if kind != "codex" and _probe_type(srv) != "linuxSeccomp":
        srv.stop()
        pytest.skip("bubblewrap is not available to the reference server: it cannot enforce a sandbox")
    yield srv
    srv.stop()


def _probe_type(server: ServerProcess) -> str:
    import asyncio

    async def probe() -> str:
        c = await Client.connect(server.url)
        try:
            await c.init()
            result = await c.call(
                "process/start", start_params("probe", ["/bin/true"], server.scratch, sandbox=sandbox(server.scratch))
            )
            await c.wait_closed_notification("probe")
            return str(result["sandboxType"])
        finally:
            await c.close()

    return asyncio.run(probe())


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(server.url)
    await c.init()
    yield c
    await c.close()


@pytest.fixture
def work(server: ServerProcess, request: pytest.FixtureRequest) -> Path:
    path: Path = server.scratch / str(request.node.name).replace("[", "-").replace("]", "")
    path.mkdir()
    return path


async def _run(client: Client, pid: str, script: str, work: Path, policy: dict[str, Any] | None) -> dict[str, Any]:
    extra = {"sandbox": policy} if policy is not None else {}
    started = await client.call("process/start", start_params(pid, ["/bin/sh", "-c", script], work, **extra))
    await client.wait_closed_notification(pid)
    [exited] = client.notifications("process/exited", pid)
    read = await client.call("process/read", {"processId": pid})
    return {"start": started, "exited": exited, "read": read}


def _exited_flag(server: ServerProcess, exited: dict[str, Any]) -> Any:
    if server.kind == "ref" and "--omit-sandbox-denied" in server.popen.args:  # type: ignore[operator]
        assert "sandboxDenied" not in exited, exited  # an older server
        return "absent"
    return exited["sandboxDenied"]


async def test_refused_write_is_a_sandbox_denial(server: ServerProcess, client: Client, work: Path) -> None:
    run = await _run(client, "denied", f"echo hi > {work}/f", work, sandbox(work, entry(work, "read")))
    assert run["start"]["sandboxType"] == "linuxSeccomp"
    assert run["exited"]["exitCode"] == 2
    assert _exited_flag(server, run["exited"]) in (True, "absent")
    assert run["read"]["sandboxDenied"] is True  # what an old server's client learns with one process/read
    assert b"Read-only file system" in client.output("denied")
    assert not (work / "f").exists()


async def test_allowed_write_is_no_denial(server: ServerProcess, client: Client, work: Path) -> None:
    (work / "ok").mkdir()
    policy = sandbox(work, entry(work, "read"), entry(work / "ok", "write"))
    run = await _run(client, "allowed", f"echo hi > {work}/ok/g", work, policy)
    assert run["exited"]["exitCode"] == 0
    assert _exited_flag(server, run["exited"]) in (False, "absent")
    assert run["read"]["sandboxDenied"] is False
    assert (work / "ok" / "g").read_text() == "hi\n"


async def test_plain_failure_in_a_sandbox_is_no_denial(server: ServerProcess, client: Client, work: Path) -> None:
    run = await _run(client, "failed", "echo nope >&2; exit 3", work, sandbox(work, entry(work, "read")))
    assert run["exited"]["exitCode"] == 3
    assert _exited_flag(server, run["exited"]) in (False, "absent")
    assert run["read"]["sandboxDenied"] is False


async def test_denial_words_without_a_sandbox_are_no_denial(server: ServerProcess, client: Client, work: Path) -> None:
    run = await _run(client, "plain", "echo Permission denied >&2; exit 1", work, None)
    assert run["start"]["sandboxType"] == "none"
    assert _exited_flag(server, run["exited"]) in (False, "absent")
    assert run["read"]["sandboxDenied"] is False


async def test_journal_records_the_denial(server: ServerProcess, client: Client, work: Path) -> None:
    if server.journal_path is None:
        pytest.skip("only the reference server journals")
    await _run(client, "journalled", f"echo hi > {work}/f", work, sandbox(work, entry(work, "read")))
    path = server.journal_path
    await wait_until(lambda: any(p.process_id == "journalled" and p.closed for p in Journal.load(path).processes()),
                     5, "proc_closed journalled")
    assert Journal.load(path).process("journalled").sandbox_denied is True
