"""``--execserver-client`` values: which client a spec names (pure; imported at plugin load, so light)."""

from __future__ import annotations

import os
import shlex

from pytest_execserver.servers.command import resolve_paths

URL_PLACEHOLDER = "{url}"
SUBJECT_MODES = {"ours": "event-stream", "ours:event-stream": "event-stream", "ours:legacy-read": "legacy-read"}


def parse_ours(spec: str) -> str | None:
    """The client mode for an ``ours[:MODE]`` spec, or None when ``spec`` is not one of ours."""
    return SUBJECT_MODES.get(spec.strip())


def adapter_argv(command: str, url: str, base: str | None = None) -> list[str]:
    """``command`` split like a shell would, with ``{url}`` replaced; a ValueError if it has no ``{url}``.

    The adapter runs in a scratch directory, so a relative path in the command that exists from ``base``
    (default: the current directory, where pytest was started) is made absolute (:mod:`.servers.command`):
    ``python my_client.py {url}`` works as typed, and a script that does not exist is a ValueError naming it."""
    tokens = shlex.split(command)
    if not tokens:
        raise ValueError("empty client command")
    if not any(URL_PLACEHOLDER in t for t in tokens):
        raise ValueError(f"client command {command!r} has no {URL_PLACEHOLDER} (where the ws:// URL goes)")
    root = base if base is not None else os.getcwd()
    return [t.replace(URL_PLACEHOLDER, url) for t in resolve_paths(tokens, root, (URL_PLACEHOLDER,))]


def is_codex_spec(spec: str) -> bool:
    """Whether ``spec`` names the Codex CLI's exec client: ``codex`` or ``codex@VERSION``."""
    spec = spec.strip()
    return spec == "codex" or spec.startswith("codex@")


def spec_problem(spec: str) -> str | None:
    """Why ``spec`` is not a client (``ours``, ``ours:legacy-read``, ``codex[@VERSION]`` or a command with
    ``{url}``), or None."""
    if parse_ours(spec) is not None:
        return None
    if is_codex_spec(spec):
        from pytest_execserver.servers.codex import check_version

        version = spec.strip().partition("@")[2]
        if "@" in spec:
            try:
                check_version(version)
            except ValueError as exc:
                return f"client {spec.strip()!r}: {exc}"
        return None
    if spec.strip().startswith("ours"):
        return (f"unknown client {spec.strip()!r}; use ours, ours:legacy-read, codex[@VERSION] or a command "
                f"with {URL_PLACEHOLDER}")
    try:
        adapter_argv(spec, "ws://127.0.0.1:1")
    except ValueError as exc:
        return str(exc)
    return None
