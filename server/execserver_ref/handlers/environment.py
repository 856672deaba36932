"""``environment/info``."""

from __future__ import annotations

import hashlib
import os
import pwd
from typing import TYPE_CHECKING, Any

from execserver_ref.handlers import Route
from execserver_ref.params import Unit, to_file_uri

if TYPE_CHECKING:
    from execserver_ref.connection import Connection

_CAPABILITIES = (
    "networkProxyLaunch",
    "networkProxyReviewDomains",
    "credentialMasking",
    "credentialMaskingCustomProviders",
    "capabilityDiscoverySandbox",
    "fsWatchMissing",
    "capabilityDiscoveryV2",
    "environmentConfigRead",
    "httpHeaderEnvVars",
    "sandboxedFileStreaming",
    "fileWriteStreaming",
    "shellSnapshotV2",
    "windowsMxc",
    "linuxRootWritePreservesDevices",
    "linuxApprovedRootWritePreservesRestrictions",
)

_cached: dict[str, Any] | None = None


def environment_info() -> dict[str, Any]:
    global _cached
    if _cached is None:
        try:
            shell_path = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
        except KeyError:
            shell_path = "/bin/sh"
        if not os.path.isabs(shell_path) or not os.access(shell_path, os.X_OK):
            shell_path = "/bin/sh"
        cwd = os.getcwd()
        home = os.environ.get("HOME", cwd)
        tmp = os.environ.get("TMPDIR", "/tmp")
        _cached = {
            "shell": {"name": os.path.basename(shell_path), "path": shell_path},
            "executorVersion": "0.0.0",
            "providerId": "sha256:" + hashlib.sha256(b"execserver-ref").hexdigest(),
            "cwd": to_file_uri(cwd),
            "userHomeDir": to_file_uri(home),
            "platformOs": "linux",
            "temporaryDirectories": [to_file_uri(tmp)],
            "tempDir": to_file_uri(tmp),
            "capabilities": dict.fromkeys(_CAPABILITIES, False),
        }
    return _cached


async def info(conn: Connection, params: Any) -> Any:
    return environment_info()


ROUTES = {"environment/info": Route("environment info", Unit(), info)}
