"""A client in any language, driven over the line protocol (README, "Test your own client").

The harness starts ``CMD`` with ``{url}`` replaced by the ws:// URL to use (the proxy's), writes one JSON
request per line to its stdin and reads one JSON reply per line from its stdout; one request at a time.
Closing stdin asks the adapter to exit; it is killed if it does not. A request not answered within
``timeout_ms`` plus a margin is a hang (:class:`SubjectHang`). The adapter runs with the test's scratch
directory as cwd and HOME (and CODEX_HOME), and an environment without the host's secrets.

The line protocol itself (encoding and validating requests and replies) is :func:`encode_request` and
:func:`decode_reply`, without I/O.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import shlex
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_execserver.servers.lifetime import die_with_parent
from pytest_execserver.subjects.base import (
    ClientFailure,
    Outcome,
    RunRequest,
    SubjectError,
    SubjectHang,
    separate_streams,
)
from pytest_execserver.subjects.spec import adapter_argv

DEFAULT_MARGIN_S = 5.0
_LINE_LIMIT = 256 * 1024 * 1024  # a reply carries the whole output, base64-encoded


__all__ = ["SubjectHang", "SubprocessSubject", "adapter_argv", "decode_reply", "encode_request"]


def adapter_env(home: Path) -> dict[str, str]:
    """The adapter's whole environment: PATH and locale from the host, everything else scratch."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "TMPDIR": str(home),
        "PYTHONUNBUFFERED": "1",
    }


def encode_request(request_id: int, request: RunRequest) -> bytes:
    """One request line: ``{"id", "op": "run", "argv", "cwd", "env", "stdin_b64", "tty", "timeout_ms"}``."""
    body = {
        "id": request_id,
        "op": "run",
        "argv": list(request.argv),
        "cwd": request.cwd,
        "env": dict(request.env),
        "stdin_b64": None if request.stdin is None else base64.b64encode(request.stdin).decode("ascii"),
        "tty": request.tty,
        "timeout_ms": request.timeout_ms,
    }
    return json.dumps(body).encode() + b"\n"


def _b64(reply: Mapping[str, Any], key: str) -> bytes:
    value = reply.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise SubjectError(f"reply field {key!r} must be a base64 string or null, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SubjectError(f"reply field {key!r} is not valid base64: {exc}") from exc


def decode_reply(line: bytes, request_id: int) -> Outcome:
    """Validate one reply line (``{"id", "exit_code", "stdout_b64", "stderr_b64", "error"}``)."""
    try:
        reply = json.loads(line)
    except ValueError as exc:
        raise SubjectError(f"reply is not JSON: {line[:200]!r}") from exc
    if not isinstance(reply, dict):
        raise SubjectError(f"reply is not a JSON object: {line[:200]!r}")
    if reply.get("id") != request_id:
        raise SubjectError(f"reply id {reply.get('id')!r} does not match request id {request_id}")
    exit_code = reply.get("exit_code")
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise SubjectError(f"reply exit_code must be an integer or null, got {exit_code!r}")
    error = reply.get("error")
    failure: ClientFailure | None = None
    if error is not None:
        if not (isinstance(error, dict) and isinstance(error.get("type"), str)
                and isinstance(error.get("message"), str)):
            raise SubjectError(f'reply error must be null or {{"type": str, "message": str}}, got {error!r}')
        failure = ClientFailure(error["type"], error["message"])
    elif exit_code is None:
        raise SubjectError("reply has neither an exit_code nor an error")
    return Outcome(exit_code, _b64(reply, "stdout_b64"), _b64(reply, "stderr_b64"), failure,
                   truncated=bool(reply.get("truncated", False)))


class SubprocessSubject:
    """An adapter program speaking the line protocol, started on the first request."""

    merged_streams = False
    delivered_view = staticmethod(separate_streams)  # stdout and stderr kept apart, byte-exact

    def __init__(self, command: str, url: str, *, home: Path, margin_s: float = DEFAULT_MARGIN_S,
                 name: str | None = None) -> None:
        self.argv = adapter_argv(command, url)
        self.command = command
        self.url = url
        self.home = home
        self.margin_s = margin_s
        self.name = name or command
        self.stderr_path = home / "adapter.stderr"
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = 0
        self._broken: str | None = None

    async def _start(self) -> asyncio.subprocess.Process:
        if self.proc is None:
            self.home.mkdir(parents=True, exist_ok=True)
            with open(self.stderr_path, "wb") as stderr:
                try:
                    self.proc = await asyncio.create_subprocess_exec(
                        *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                        cwd=self.home, env=adapter_env(self.home), start_new_session=True, limit=_LINE_LIMIT,
                        preexec_fn=die_with_parent)
                except OSError as exc:
                    raise SubjectError(f"client {self.command!r} could not be started: {exc}") from exc
        return self.proc

    def stderr_tail(self, limit: int = 1500) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def _fail(self, message: str) -> SubjectError:
        tail = self.stderr_tail()
        self._broken = message
        return SubjectError(f"client {self.name!r}: {message}" + (f"\n--- its stderr (tail) ---\n{tail}" if tail
                                                                   else ""))

    async def run(self, request: RunRequest) -> Outcome:
        """Send one request and wait (bounded) for its reply."""
        if self._broken is not None:
            raise SubjectError(f"client {self.name!r} is unusable after an earlier failure: {self._broken}")
        proc = await self._start()
        assert proc.stdin is not None and proc.stdout is not None
        self._ids += 1
        request_id = self._ids
        try:
            proc.stdin.write(encode_request(request_id, request))
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._fail(f"exited (status {proc.returncode}) before request {request_id}: {exc}") from exc
        deadline_s = request.timeout_ms / 1000 + self.margin_s
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), deadline_s)
        except TimeoutError:
            self._broken = f"it hung on request {request_id}"
            raise SubjectHang(
                f"client {self.name!r} hung: no reply to request {request_id} ({shlex.join(request.argv)[:120]}) "
                f"within {deadline_s:.1f} s (its timeout_ms {request.timeout_ms} + the harness's margin "
                f"{self.margin_s:g} s)", deadline_s) from None
        except ValueError as exc:  # a line over the limit
            raise self._fail(f"reply to request {request_id} too long: {exc}") from exc
        if not line:
            status = await _wait_exit(proc, 1.0)
            raise self._fail(f"closed its stdout (exit status {status}) instead of answering request {request_id}")
        try:
            return decode_reply(line, request_id)
        except SubjectError as exc:
            raise self._fail(f"broke the line protocol on request {request_id}: {exc}") from exc

    async def close(self, grace_s: float = 3.0) -> None:
        """Close its stdin (the request to exit), then kill its process group if it is still there."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if await _wait_exit(proc, grace_s) is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await _wait_exit(proc, 5.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its group


async def _wait_exit(proc: asyncio.subprocess.Process, timeout_s: float) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        return None
