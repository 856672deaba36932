"""The ``environmentInfo`` object (``initialize`` result and ``environment/info``), per codex release."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
from typing import Any

from execserver_ref.params import to_file_uri
from execserver_ref.versions import CodexBehaviour

_CAPABILITIES_0_169 = (
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


def capability_names(codex: CodexBehaviour) -> tuple[str, ...]:
    """Capability names in codex's order (the reference implements none of them: all are false)."""
    names = list(_CAPABILITIES_0_169)
    if codex.transparent_tcp_capability:
        names.insert(names.index("networkProxyReviewDomains") + 1, "networkProxyTransparentTcp")
    return tuple(names)


_KNOWN_SHELLS = ("zsh", "bash", "sh")


def user_shell(uid: int | None = None) -> str:
    """The shell codex reports: the login shell when it is one codex knows and it exists, else ``bash`` on
    PATH, else ``zsh``, else /bin/sh (codex's ``default_user_shell``; ``nobody``'s /usr/sbin/nologin gives
    bash on PATH, e.g. /usr/bin/bash)."""
    try:
        login = pwd.getpwuid(os.getuid() if uid is None else uid).pw_shell
    except KeyError:
        login = ""
    if os.path.basename(login) in _KNOWN_SHELLS and os.path.isabs(login) and os.access(login, os.X_OK):
        return login
    for name in ("bash", "zsh"):
        found = shutil.which(name)
        if found is not None:
            return found
    return "/bin/sh"


def environment_info(codex: CodexBehaviour) -> dict[str, Any]:
    """A fresh ``environmentInfo`` for the server's process environment."""
    shell_path = user_shell()
    cwd = os.getcwd()
    home = os.environ.get("HOME", cwd)
    tmp = os.environ.get("TMPDIR", "/tmp")
    info: dict[str, Any] = {
        "shell": {"name": os.path.basename(shell_path), "path": shell_path},
        "executorVersion": codex.executor_version,
        "providerId": "sha256:" + hashlib.sha256(b"execserver-ref").hexdigest(),
        "cwd": to_file_uri(cwd),
        "userHomeDir": to_file_uri(home),
        "platformOs": "linux",
    }
    if codex.prepend_path_dirs:
        info["prependPathDirs"] = []  # codex lists its bundled helper tools' directory; the reference has none
    info["temporaryDirectories"] = [to_file_uri(tmp)]
    info["tempDir"] = to_file_uri(tmp)
    info["capabilities"] = dict.fromkeys(capability_names(codex), False)
    return info
