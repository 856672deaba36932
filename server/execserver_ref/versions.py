"""Which codex release the reference server follows (``--codex-version``), and what differs between them.

Each supported release is one :class:`CodexBehaviour`; code asks the behaviour, never the version string.
Differences observed on the binaries (docs/protocol.md, "codex versions"):

* 0.171.0: a failed ``process/start`` carries ``error.data = {"kind": ...}`` (``spawnNotFound``,
  ``spawnPermissionDenied``, ``spawnFailed``); ``environmentInfo`` gains the capability
  ``networkProxyTransparentTcp`` (after ``networkProxyReviewDomains``).
* Both, run from their npm package (as installed): ``executorVersion`` is the release and
  ``prependPathDirs`` is sent (after ``platformOs``). A bare binary, outside its package, reports
  ``0.0.0`` and omits ``prependPathDirs`` on either release: that was once mistaken for a 0.171.0 change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodexBehaviour:
    version: str
    executor_version: str
    spawn_error_kinds: bool
    prepend_path_dirs: bool
    transparent_tcp_capability: bool


BEHAVIOURS: dict[str, CodexBehaviour] = {
    "0.169.0": CodexBehaviour("0.169.0", "0.169.0", spawn_error_kinds=False, prepend_path_dirs=True,
                              transparent_tcp_capability=False),
    "0.171.0": CodexBehaviour("0.171.0", "0.171.0", spawn_error_kinds=True, prepend_path_dirs=True,
                              transparent_tcp_capability=True),
}
DEFAULT_VERSION = "0.171.0"


def behaviour(version: str = DEFAULT_VERSION) -> CodexBehaviour:
    """The behaviour of a supported codex release; ValueError names the supported ones."""
    try:
        return BEHAVIOURS[version]
    except KeyError:
        raise ValueError(f"unsupported codex version {version!r}; supported: {', '.join(BEHAVIOURS)}") from None
