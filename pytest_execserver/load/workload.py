"""The one-shot operation of a load run: a process that prints a deterministic payload, checked byte-exact."""

from __future__ import annotations

import string

_ALPHABET = (string.ascii_letters + string.digits).encode()


def payload(client: int, index: int, size: int = 64) -> bytes:
    """A payload unique to (client, index), ``size`` bytes of letters and digits (no ``/``, no shell syntax)."""
    head = f"c{client}o{index}-".encode()
    body = bytes(_ALPHABET[(client * 7 + index * 13 + i) % len(_ALPHABET)] for i in range(max(0, size - len(head))))
    return (head + body)[: max(size, len(head))]


def one_shot_argv(data: bytes) -> list[str]:
    """``printf %s DATA``: the process writes exactly ``data`` to stdout and exits 0."""
    return ["printf", "%s", data.decode("ascii")]


def output_mismatch(expected: bytes, stdout: bytes, stderr: bytes, exit_code: int | None) -> str | None:
    """Why an operation's outcome is wrong, or None when it is byte-exact with exit code 0."""
    if exit_code != 0:
        return f"exit code {exit_code} (stderr {stderr[:200]!r})"
    if stdout != expected:
        at = next((i for i, (a, b) in enumerate(zip(stdout, expected, strict=False)) if a != b), None)
        at = min(len(stdout), len(expected)) if at is None else at
        return f"stdout differs at byte {at}: got {len(stdout)} bytes {stdout[:80]!r}, want {len(expected)} bytes"
    return None
