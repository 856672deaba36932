"""Sandbox denial under faults: a sandboxed process whose write is refused reaches the result as
``sandbox_denied=True``, an allowed one as ``False`` -- with the server's ``sandboxDenied`` on
``process/exited``, or, from an older server that omits it (``ref --omit-sandbox-denied``), learned with one
``process/read`` as the Codex client does. The report's ``sandbox_denial`` cells say which the server did
(true / false / absent on the wire).

The policy names no host path: codex's ``minimal`` read set plus the test's scratch directory, read-only
(the write is denied) or writable (allowed). Skips when the server cannot enforce a sandbox (no bubblewrap
inside its confinement: ``sandboxType`` is not ``linuxSeccomp``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.client import ExecClient
from pytest_execserver.faults.kinds import Fault

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]

MINIMAL = {"path": {"type": "special", "value": {"kind": "minimal"}}, "access": "read"}


def sandbox_policy(scratch: Path, access: str) -> dict[str, Any]:
    """A codex ``sandbox`` param: the platform's minimal read set and ``scratch`` with ``access``."""
    work = {"path": {"type": "path", "path": f"file://{scratch}"}, "access": access}
    return {
        "permissions": {
            "type": "managed",
            "file_system": {"type": "restricted", "entries": [MINIMAL, work]},
            "network": "restricted",
        },
        "cwd": f"file://{scratch}",
        "windowsSandboxLevel": "disabled",
    }


async def _run_sandboxed(client: ExecClient, scratch: Path, access: str) -> tuple[Any, Any]:
    handle = await client.start(
        ["/bin/sh", "-c", "echo denied-or-not > canary.txt"],
        cwd=scratch,
        env={"PATH": "/usr/bin:/bin"},
        extra_params={"sandbox": sandbox_policy(scratch, access)},
    )
    result = await handle.wait(30)
    return handle.start_result, result


@pytest.mark.chaos("latency", Fault("slicer", average_size=16, size_variation=8), "bandwidth")
async def test_sandbox_denial_reaches_the_result_under_each_fault(
    exec_client: ExecClient, exec_scratch: Path, exec_fault: Fault
) -> None:
    start, denied = await _run_sandboxed(exec_client, exec_scratch, "read")
    if not isinstance(start, dict) or start.get("sandboxType") != "linuxSeccomp":
        pytest.skip(f"the server under test does not enforce sandboxes here (process/start said {start!r})")
    assert denied.exit_code != 0, denied
    assert denied.sandbox_denied is True, denied
    assert not (exec_scratch / "canary.txt").exists()
    _, allowed = await _run_sandboxed(exec_client, exec_scratch, "write")
    assert (allowed.exit_code, allowed.sandbox_denied) == (0, False), allowed
    assert (exec_scratch / "canary.txt").read_bytes() == b"denied-or-not\n"
