"""The client-under-test contract: :class:`RunRequest` in, :class:`Outcome` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class SubjectError(RuntimeError):
    """The harness could not drive the client (it would not start, broke the line protocol, or hung)."""


class SubjectHang(SubjectError):
    """The client did not answer a request within its ``timeout_ms`` plus the harness's margin."""

    def __init__(self, message: str, deadline_s: float) -> None:
        super().__init__(message)
        self.deadline_s = deadline_s


def separate_streams(chunks: Sequence[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """The default delivered view: ``(stdout, stderr)`` a client keeping the streams apart delivers for
    ``chunks`` ((stream, data) in seq order; a tty's ``pty`` output counts as stdout)."""
    out = b"".join(data for stream, data in chunks if stream in ("stdout", "pty"))
    return out, b"".join(data for stream, data in chunks if stream == "stderr")


def delivered_view(subject: object, chunks: Sequence[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """What ``subject`` should deliver for a process that emitted ``chunks``: its own ``delivered_view`` if it
    has one (codex merges the streams into one text), else :func:`separate_streams`."""
    view = getattr(subject, "delivered_view", None)
    return separate_streams(chunks) if view is None else view(chunks)


@dataclass(frozen=True)
class RunRequest:
    """One command for the client to run on the exec-server.

    ``cwd`` is a ``file://`` URI inside the test's scratch directory; ``timeout_ms`` is the client's own
    budget for the whole run: a client that has not answered by then (plus the harness's margin) hangs.
    """

    argv: Sequence[str]
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    tty: bool = False
    timeout_ms: int = 30_000


@dataclass(frozen=True)
class ClientFailure:
    """The client's own report of a failure: its type name and message."""

    type: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What the client delivered for one :class:`RunRequest`.

    ``error`` is None when the client says the run completed; otherwise ``exit_code`` may be None and
    ``stdout``/``stderr`` hold whatever was delivered before the failure.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    error: ClientFailure | None = None
    truncated: bool = False  # the client said it cut the output (e.g. codex's tool-output limit)


@runtime_checkable
class ClientUnderTest(Protocol):
    """A client the harness drives. One request at a time; ``close`` ends it (and its processes)."""

    name: str

    async def run(self, request: RunRequest) -> Outcome: ...

    async def close(self) -> None: ...
