"""``--codex-version``: the reference server follows codex 0.171.0 by default and 0.169.0 on request.

What differs (observed on both binaries, docs/protocol.md "codex versions"): failed spawns carry
``error.data.kind`` and the capabilities gain ``networkProxyTransparentTcp`` in 0.171.0. Both send
``prependPathDirs`` and their own release as ``executorVersion`` (run from their npm package).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from .refclient import Client, start_params

SPAWN_CASES = [
    (["no-such-program-xyz"], {}, "spawnNotFound", "No such file or directory (os error 2)"),
    (["."], {}, "spawnPermissionDenied", "Permission denied (os error 13)"),  # cwd itself: a directory
    (["/bin/true", "a\x00b"], {}, "spawnFailed", "nul byte found in provided data"),
    (["true"], {"tty": True, "env": {}}, "spawnFailed", "Unable to spawn true because:\nUnable to resolve the PATH"),
]


async def _env_and_spawns(server: Any) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    c = await Client.connect(server.url)
    try:
        init = await c.call("initialize", {"clientName": "versions"})
        await c.notify("initialized")
        info = await c.call("environment/info")
        errors = []
        for n, (argv, extra, _, _) in enumerate(SPAWN_CASES):
            argv = [str(server.scratch)] if argv == ["."] else argv
            response = await c.request("process/start", start_params(f"s{n}", argv, server.scratch, **extra))
            errors.append(response["error"])
    finally:
        await c.close()
    return init["environmentInfo"], info, errors


async def test_default_follows_codex_0_171(launch_server: Any) -> None:
    env, info, errors = await _env_and_spawns(launch_server("ref"))
    assert env == info
    keys = list(info)
    assert keys.index("prependPathDirs") == keys.index("platformOs") + 1 and info["prependPathDirs"] == []
    caps = list(info["capabilities"])
    assert caps.index("networkProxyTransparentTcp") == caps.index("networkProxyReviewDomains") + 1
    assert info["executorVersion"] == "0.171.0"
    for error, (_, _, kind, message) in zip(errors, SPAWN_CASES, strict=True):
        assert error == {"code": -32603, "data": {"kind": kind}, "message": message}
        assert list(error) == ["code", "data", "message"]  # codex's member order


async def test_codex_version_0_169_reproduces_the_older_behaviour(launch_server: Any) -> None:
    env, info, errors = await _env_and_spawns(launch_server("ref", "--codex-version", "0.169.0"))
    assert env == info
    # codex 0.169.0 run from its npm package also sends prependPathDirs and its release as executorVersion
    assert info["prependPathDirs"] == [] and "networkProxyTransparentTcp" not in info["capabilities"]
    assert info["executorVersion"] == "0.169.0"
    for error, (_, _, _, message) in zip(errors, SPAWN_CASES, strict=True):
        assert error == {"code": -32603, "message": message}


def test_unknown_codex_version_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "execserver_ref", "--codex-version", "9.9.9"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "invalid choice: '9.9.9'" in result.stderr and "0.169.0" in result.stderr
