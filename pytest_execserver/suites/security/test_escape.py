"""A sandboxed process that tries to write outside its writable roots.

Every path is built inside the server's scratch directory: ``rw/`` is the only writable root of the
sandbox policy, ``ro/`` is readable only, and ``rw/link`` is a symlink (made by the suite) to ``ro/``.
The process tries an absolute path into ``ro/``, ``rw/../ro`` and the symlink; none of those files may
appear in ``ro/``, while a write inside ``rw/`` (the control) must succeed. The server itself runs
confined, so even a server that ignores the policy can only reach its scratch directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.suites.conformance.rawclient import RawClient
from pytest_execserver.suites.security.servers import SecurityServers

pytestmark = pytest.mark.asyncio

MINIMAL = {"path": {"type": "special", "value": {"kind": "minimal"}}, "access": "read"}


def _entry(path: Path, access: str) -> dict[str, Any]:
    return {"path": {"type": "path", "path": path.as_uri()}, "access": access}


def sandbox(rw: Path, ro: Path) -> dict[str, Any]:
    return {
        "permissions": {
            "type": "managed",
            "file_system": {"type": "restricted", "entries": [MINIMAL, _entry(ro, "read"), _entry(rw, "write")]},
            "network": "restricted",
        },
        "cwd": rw.as_uri(),
        "windowsSandboxLevel": "disabled",
    }


def _layout(scratch: Path) -> tuple[Path, Path]:
    base = scratch / f"escape-{time.monotonic_ns()}"
    rw, ro = base / "rw", base / "ro"
    rw.mkdir(parents=True)
    ro.mkdir()
    (rw / "link").symlink_to(ro, target_is_directory=True)
    return rw, ro


ATTEMPTS = {
    "absolute-path": "echo x > {ro}/absolute",
    "dot-dot": "echo x > ../ro/dotdot",
    "symlink-in-writable-root": "echo x > link/via-symlink",
    "mkdir-through-symlink": "mkdir link/newdir",
}


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
async def test_sandboxed_process_cannot_write_outside_writable_roots(
    attempt: str, security_servers: SecurityServers
) -> None:
    running = security_servers.plain()
    rw, ro = _layout(running.server.scratch)
    script = ATTEMPTS[attempt].format(ro=ro) + "; echo ok > control"
    client = await RawClient.connect(running.server.url, timeout=10)
    try:
        assert "result" in await client.handshake("security")
        params = {"processId": "escape", "argv": ["/bin/sh", "-c", script], "cwd": rw.as_uri(),
                  "env": {"PATH": "/usr/bin:/bin"}, "tty": False, "sandbox": sandbox(rw, ro)}
        result = await client.call("process/start", params)
        await client.wait_for(lambda f: f.get("method") == "process/closed", timeout=20, what="process/closed")
    finally:
        await client.close()
    if result.get("sandboxType") == "none":
        pytest.skip("the server cannot enforce a sandbox here (sandboxType none)")
    assert (rw / "control").exists(), f"the control write inside the writable root failed; {result}"
    escaped = sorted(p.name for p in ro.iterdir())
    assert not escaped, (f"{attempt}: a sandboxed process with only {rw.name}/ writable wrote {escaped} into the "
                         f"read-only {ro.name}/ (`{ATTEMPTS[attempt]}`)")


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


# (method, params builder given rw and ro); "keep" in ro/ must survive, and nothing else may appear there
FS_ATTEMPTS: dict[str, tuple[str, Any]] = {
    "write-absolute-path": ("fs/writeFile", lambda rw, ro: {"path": (ro / "w-abs").as_uri(), "dataBase64": _b64(b"x")}),
    "write-dot-dot": ("fs/writeFile", lambda rw, ro: {"path": f"file://{rw}/../ro/w-dotdot", "dataBase64": _b64(b"x")}),
    "write-through-symlink": ("fs/writeFile",
                              lambda rw, ro: {"path": (rw / "link" / "w-sym").as_uri(), "dataBase64": _b64(b"x")}),
    "mkdir-through-symlink": ("fs/createDirectory", lambda rw, ro: {"path": (rw / "link" / "d-sym").as_uri()}),
    "copy-into-symlink": ("fs/copy", lambda rw, ro: {"sourcePath": (rw / "src").as_uri(),
                                                      "destinationPath": (rw / "link" / "c-sym").as_uri(),
                                                      "recursive": False}),
    "remove-through-symlink": ("fs/remove", lambda rw, ro: {"path": (rw / "link" / "keep").as_uri()}),
}


@pytest.mark.parametrize("attempt", sorted(FS_ATTEMPTS))
async def test_sandboxed_fs_request_cannot_write_outside_writable_roots(
    attempt: str, security_servers: SecurityServers
) -> None:
    running = security_servers.plain()
    rw, ro = _layout(running.server.scratch)
    (ro / "keep").write_text("keep")
    (rw / "src").write_text("src")
    method, build = FS_ATTEMPTS[attempt]
    client = await RawClient.connect(running.server.url, timeout=10)
    try:
        assert "result" in await client.handshake("security")
        control = await client.request("fs/writeFile", {"path": (rw / "control").as_uri(), "dataBase64": _b64(b"ok"),
                                                        "sandbox": sandbox(rw, ro)})
        response = await client.request(method, {**build(rw, ro), "sandbox": sandbox(rw, ro)})
    finally:
        await client.close()
    assert "result" in control and (rw / "control").exists(), f"the control write inside rw/ failed: {control}"
    changed = sorted(p.name for p in ro.iterdir() if p.name != "keep") + ([] if (ro / "keep").exists() else ["-keep"])
    assert not changed, (f"{attempt}: {method} with a sandbox whose only writable root is rw/ changed the "
                         f"read-only ro/: {changed}; the server answered {response}; codex 0.171.0 answers "
                         f"-32603 Read-only file system (os error 30)")
    assert "error" in response, f"{attempt}: {method} succeeded without writing: {response}"
