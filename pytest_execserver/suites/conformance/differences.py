"""Normalization of observations, and THE allowlist of deliberate differences between ref and codex.

Every observation a conformance scenario records goes through :func:`normalize` before it is compared,
both against the expected (codex-observed) value in the per-server tests and between the two servers in
the pairwise tests. Two kinds of rewriting happen here:

1. *Volatile values* that differ between any two runs of the same server (session ids, uuids, pids,
   scratch paths, timings, tty device numbers). These are not differences between implementations.
   ``environmentInfo.executorVersion`` equal to the release the server speaks becomes ``<release>``: every
   release reports its own number, so comparing two releases would otherwise always "change" it; a
   server reporting anything else (``0.0.0`` from a codex binary run outside its npm package) still shows.
2. *Deliberate differences* between ``execserver-ref`` and ``codex exec-server``: listed in
   :data:`DELIBERATE` below, one entry per difference, each with the reason it is acceptable. Nothing
   else may differ; a mismatch outside this list is a conformance failure of the reference server.

Keep this list short and justified. Adding an entry needs a reason a reviewer would accept.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PEER_RE = re.compile(r"websocket \d{1,3}(?:\.\d{1,3}){3}:\d+")
PTS_RE = re.compile(r"/dev/pts/\d+")


@dataclass(frozen=True)
class Difference:
    """One deliberate difference: which observation keys it touches, why, and how it is erased."""

    name: str
    keys: tuple[str, ...]  # fnmatch patterns over observation keys
    reason: str
    erase: Callable[[Any], Any]

    def applies(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.keys)


def _drop_env_info_fields(value: Any) -> Any:
    """Remove implementation-specific fields of environmentInfo wherever it appears."""

    def scrub(info: Any) -> Any:
        if isinstance(info, dict):
            if isinstance(info.get("capabilities"), dict):
                info["capabilities"] = sorted(info["capabilities"])  # names compared, values not
            if "providerId" in info:
                info["providerId"] = "<providerId>"
            dirs = info.get("prependPathDirs")
            if isinstance(dirs, list) and all(isinstance(d, str) and d.startswith("file://") for d in dirs):
                info["prependPathDirs"] = "<file-uris>"  # shape compared, not the list
        return info

    if isinstance(value, dict):
        result = value.get("result")
        if isinstance(result, dict):
            if "environmentInfo" in result:
                scrub(result["environmentInfo"])
            elif "shell" in result:
                scrub(result)
    return value


# The allowlist. Each entry is deliberate and explained; see module docstring.
DELIBERATE: tuple[Difference, ...] = (
    Difference(
        name="environment-info-implementation-fields",
        keys=("*initialize*", "*environment/info*", "*env-info*"),
        reason=(
            "environmentInfo.capabilities advertises codex-internal features (network proxy launch, "
            "credential masking, Windows MXC, ...) that the reference server does not implement and "
            "must not claim, so only the capability *names* are compared, not their true/false values; "
            "providerId is a sha256 over the implementation's provider identity, so only its presence "
            "is compared; prependPathDirs (0.171.0) lists the directory of codex's bundled helper tools "
            "(e.g. its own rg), which the reference does not ship (it sends []), so only its shape (a list "
            "of file URIs) is compared."
        ),
        erase=_drop_env_info_fields,
    ),
)


def _replace_strings(value: Any, replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in replacements:
            if old:
                value = value.replace(old, new)
        value = UUID_RE.sub("<uuid>", value)
        value = PEER_RE.sub("websocket <peer>", value)
        value = PTS_RE.sub("/dev/pts/<n>", value)
        return value
    if isinstance(value, list):
        return [_replace_strings(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _replace_strings(v, replacements) for k, v in value.items()}
    return value


def _release_placeholder(value: Any, release: str) -> Any:
    """``executorVersion`` equal to ``release`` (the server's own release number) becomes ``<release>``."""
    result = value.get("result") if isinstance(value, dict) else None
    if isinstance(result, dict):
        info = result.get("environmentInfo", result)
        if isinstance(info, dict) and release and info.get("executorVersion") == release:
            info["executorVersion"] = "<release>"
    return value


def normalize(key: str, value: Any, replacements: list[tuple[str, str]], release: str = "") -> Any:
    """Volatile values replaced (``release``: the codex release the server speaks), then every applicable
    deliberate difference erased."""
    value = _release_placeholder(_replace_strings(copy.deepcopy(value), replacements), release)
    for difference in DELIBERATE:
        if difference.applies(key):
            value = difference.erase(value)
    return value
