"""The exec client inside the real Codex CLI as a client under test (``codex``, ``codex@VERSION``).

Each :meth:`CodexSubject.run` starts one ``codex exec`` process, confined like a server (scratch cwd, HOME
and CODEX_HOME; a minimal environment with no host secrets), with ``CODEX_EXEC_SERVER_URL`` set to the
exec-server URL under test (normally the proxy's) and its model provider pointed at a
:class:`~pytest_execserver.subjects.scripted_model.ScriptedModel`. The model asks for one ``exec_command`` (the
request's argv, shell-quoted, in the request's cwd), polls with ``write_stdin`` while the command runs,
then ends the turn; the :class:`~pytest_execserver.subjects.base.Outcome` is parsed from what codex put in
the ``function_call_output`` items of its requests, i.e. exactly what codex told the model.

What differs from a line-protocol client:
- codex merges stdout and stderr into one text (``merged_streams``): ``Outcome.stdout`` is that text,
  UTF-8 encoded, and ``Outcome.stderr`` is empty. Compare it with every stream of the process in seq order.
- codex cuts a tool call's output above 10,000 bytes by default; the subject raises that to 1 MiB (codex's
  own cap per call) with ``tool_output_token_limit``, ``output_limit_bytes=None`` keeps codex's default.
  A cut output is reported as ``Outcome.truncated``.
- stdin needs a terminal in codex (``write_stdin`` only reaches tty processes), so a request with stdin
  runs with ``tty`` and ends its input with ^D.
- codex's own start-up (reading config, building the prompt) is measured per run (``CodexRun.startup_s``)
  and lies before the first model request, outside every exec-server phase in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from pytest_execserver.servers.codex import check_version, codex_binary
from pytest_execserver.servers.confine import Confinement, choose_confinement, confine
from pytest_execserver.subjects.base import ClientFailure, Outcome, RunRequest, SubjectError, SubjectHang
from pytest_execserver.subjects.scripted_model import (
    MAX_YIELD_TIME_MS,
    OUTPUT_CAP_BYTES,
    CommandResult,
    ExecCommand,
    RecordedRequest,
    ScriptedModel,
    Step,
    WriteStdin,
)
from pytest_execserver.subjects.spec import is_codex_spec

OUTPUT_LIMIT = OUTPUT_CAP_BYTES  # the subject raises codex's 10,000-byte cut so chaos outputs compare whole
START_MARGIN_S = 20.0  # codex's own start-up and shutdown, on top of the request's timeout
_EOF = "\x04"  # ^D at the start of a line: end of input for a terminal in canonical mode


def codex_view(chunks: Iterable[bytes]) -> bytes:
    """What codex delivers for a process that emitted ``chunks`` (every stream, in seq order): one text.

    codex joins the streams and decodes the whole output as UTF-8, each invalid sequence becoming U+FFFD
    (checked against codex 0.171.0 on random binary blobs: Python's ``errors="replace"`` cuts the same).
    """
    return b"".join(chunks).decode("utf-8", errors="replace").encode()


class CodexHang(SubjectHang):
    """codex neither finished nor reported a failure within the request's timeout plus the margin."""


def is_codex_client(spec: str) -> bool:
    """Whether ``spec`` (the value of ``--execserver-client``) names codex: ``codex`` or ``codex@VERSION``."""
    return is_codex_spec(spec)


def codex_client_version(spec: str) -> str | None:
    """``codex`` -> None (the default version), ``codex@0.171.0`` -> ``"0.171.0"``; ValueError if malformed."""
    if not is_codex_client(spec):
        raise ValueError(f"{spec!r} is not a codex client; use codex or codex@VERSION")
    version = spec.strip().partition("@")[2]
    return check_version(version) if version or "@" in spec else None


@dataclass
class CodexRun:
    """One ``codex exec`` run: timings (``time.monotonic()``), what codex printed and told the model."""

    spawned_at: float
    first_request_at: float | None = None
    exited_at: float | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    results: list[CommandResult] = field(default_factory=list)
    told_model: list[str] = field(default_factory=list)  # every function_call_output text, in order
    requests: list[RecordedRequest] = field(default_factory=list)  # the model requests of this run

    def tool_call_s(self) -> list[float]:
        """Per tool call: from the model's answer carrying it to codex's next request carrying its output."""
        return [b.t - (a.answered or a.t) for a, b in zip(self.requests, self.requests[1:], strict=False)]

    @property
    def startup_s(self) -> float | None:
        """From spawning codex to its first model request: codex's own start-up cost."""
        return None if self.first_request_at is None else self.first_request_at - self.spawned_at


def summarize(told: list[str], edge: int = 60) -> str:
    """What codex told the model, readable: each text's header lines, and its output cut to its two ends."""
    parts = []
    for text in told:
        head, sep, output = text.partition("Output:\n")
        if not sep:
            parts.append(repr(text[:400]))
            continue
        shown = output if len(output) <= 2 * edge else f"{output[:edge]}...({len(output)} chars)...{output[-edge:]}"
        parts.append(repr(head.replace("\n", "; ").strip("; ") + "; Output: " + shown))
    return "[" + ", ".join(parts) + "]"


def request_steps(request: RunRequest, max_output_tokens: int | None = None) -> list[Step]:
    """The tool calls that make codex run ``request`` (``max_output_tokens``: raise codex's output cut)."""
    argv = list(request.argv)
    if not argv:
        raise SubjectError("RunRequest.argv is empty")
    if request.env:  # the request's env is the child's whole environment (as process/start's env is)
        if "=" in argv[0]:
            raise SubjectError(f"argv[0] {argv[0]!r} contains '=': env would take it for an assignment")
        argv = ["env", "-i", "--", *(f"{k}={v}" for k, v in request.env.items()), *argv]
    cmd = shlex.join(argv)
    workdir = _path_of(request.cwd)
    tty = request.tty or request.stdin is not None
    if request.stdin is None:
        return [ExecCommand(cmd, workdir=workdir, tty=tty, yield_time_ms=_yield_ms(request),
                            max_output_tokens=max_output_tokens)]
    try:
        data = request.stdin.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise SubjectError(f"codex writes stdin as text through a terminal (write_stdin 'chars'); this request's "
                           f"stdin is not UTF-8 ({exc}), so codex cannot deliver it") from None
    if data and not data.endswith("\n"):
        data += _EOF  # ends the partial line; the next ^D ends the input
    return [
        ExecCommand(cmd, workdir=workdir, tty=True, yield_time_ms=250, max_output_tokens=max_output_tokens),
        WriteStdin(data + _EOF, yield_time_ms=_yield_ms(request)),
    ]


def _yield_ms(request: RunRequest) -> int:
    return max(250, min(request.timeout_ms, MAX_YIELD_TIME_MS))


def _path_of(cwd: str) -> str:
    parsed = urlparse(cwd)
    if parsed.scheme not in ("", "file"):
        raise SubjectError(f"RunRequest.cwd must be a file:// URI, got {cwd!r}")
    return unquote(parsed.path) if parsed.scheme else cwd


def outcome_of(results: list[CommandResult], run: CodexRun) -> Outcome:
    """The Outcome for one run from what codex told the model (see the module docstring)."""
    if not results or not results[0].outputs:
        detail = run.stderr.strip().splitlines()[-3:] or [f"exit status {run.returncode}"]
        return Outcome(None, b"", b"", ClientFailure("NoToolOutput", "codex delivered no tool output: "
                                                     + " / ".join(detail)))
    result = results[0]
    stdout = result.output.encode()
    failure = result.failure
    if failure is not None:
        kind, _, message = failure.partition(":")
        return Outcome(None, stdout, b"", ClientFailure(kind.strip() or "CodexToolFailure", message.strip()),
                       truncated=result.truncated)
    if not result.finished:
        return Outcome(None, stdout, b"", ClientFailure(
            "StillRunning", f"codex still reported the process running when the request's time was up; it "
                            f"told the model: {summarize(run.told_model)}"), truncated=result.truncated)
    return Outcome(result.exit_code, stdout, b"", truncated=result.truncated)


class CodexSubject:
    """Drives ``codex exec`` (one process per :meth:`run`) against the exec-server at ``url``.

    ``scratch`` is the subject's own directory (codex's cwd, HOME and CODEX_HOME); it need not be visible
    to the server. Requests' cwds must be visible to the server (the server's scratch).
    """

    merged_streams = True  # see delivered_view

    @staticmethod
    def delivered_view(chunks: Sequence[tuple[str, bytes]]) -> tuple[bytes, bytes]:
        """(stdout, stderr) codex should deliver for ``chunks`` ((stream, data) in seq order): all in stdout."""
        return codex_view(data for _, data in chunks), b""

    def __init__(self, url: str, scratch: Path, *, version: str | None = None,
                 confinement: Confinement | None = None, output_limit_bytes: int | None = OUTPUT_LIMIT,
                 start_margin_s: float = START_MARGIN_S, sandbox: str = "danger-full-access") -> None:
        self.url = url
        self.sandbox = sandbox  # codex's -s: the sandbox it asks the exec-server to run commands in
        self.start_margin_s = start_margin_s
        self.output_limit_bytes = output_limit_bytes
        self.version = version
        self.name = "codex" if version is None else f"codex@{version}"
        self.scratch = scratch
        self.confinement = confinement
        self.binary: Path | None = None
        self.model = ScriptedModel()
        self.runs: list[CodexRun] = []
        self._started = False
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Fetch the binary (may raise :class:`~pytest_execserver.servers.codex.CodexUnavailable`), start the model."""
        if self._started:
            return
        self.binary = codex_binary(self.version)
        if self.confinement is None:
            self.confinement = choose_confinement()
        self.scratch.mkdir(parents=True, exist_ok=True)
        await self.model.start()
        self._started = True

    def argv(self) -> list[str]:
        """The ``codex exec`` command line (model provider ``scripted`` = the scripted model)."""
        assert self.binary is not None
        provider = (f'{{name="scripted",base_url="{self.model.base_url}",env_key="SCRIPTED_MODEL_KEY",'
                    f'wire_api="responses"}}')
        return [str(self.binary), "exec", "--skip-git-repo-check", "-s", self.sandbox,
                "-c", "model_provider=scripted", "-c", f"model_providers.scripted={provider}",
                *self._limit_args(), "-m", "gpt-5", "run the scripted command"]

    def exec_server_env(self) -> dict[str, str]:
        """How codex finds its exec-server (direct: ``CODEX_EXEC_SERVER_URL``; the relay path overrides this)."""
        return {"CODEX_EXEC_SERVER_URL": self.url}

    def _limit_args(self) -> list[str]:
        if self.output_limit_bytes is None:
            return []
        return ["-c", f"tool_output_token_limit={self._limit_tokens()}"]

    def _limit_tokens(self) -> int | None:
        # codex counts 4 bytes a token when it cuts output
        return None if self.output_limit_bytes is None else -(-self.output_limit_bytes // 4)

    async def run(self, request: RunRequest) -> Outcome:
        """Run ``request`` through one ``codex exec``; raises :class:`CodexHang` if codex does not finish."""
        # Poll until the request's timeout is spent: a process still running then is reported, not waited on.
        polls = max(0, -(-(request.timeout_ms - MAX_YIELD_TIME_MS) // MAX_YIELD_TIME_MS))
        run = await self.play(request_steps(request, self._limit_tokens()), budget_s=request.timeout_ms / 1000,
                              max_polls=polls)
        return outcome_of(run.results, run)

    async def play(self, steps: list[Step], *, budget_s: float, max_polls: int = 0) -> CodexRun:
        """One ``codex exec`` whose model plays ``steps``; :class:`CodexHang` after ``budget_s`` + the margin."""
        await self.start()
        conversation = self.model.play(steps, max_polls=max_polls)
        seen = len(self.model.requests)
        run = CodexRun(spawned_at=time.monotonic())
        self.runs.append(run)
        command = confine(self.argv(), self.scratch, confinement=self._confinement(),
                          env={"SCRIPTED_MODEL_KEY": "scripted", **self.exec_server_env()})
        run.spawned_at = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            *command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=command.preexec)
        budget = budget_s + self.start_margin_s
        try:
            out, err = await asyncio.wait_for(self._proc.communicate(), budget)
        except TimeoutError:
            self._kill()
            out, err = await self._proc.communicate()
            self._record(run, conversation.results, seen, out, err)
            raise CodexHang(f"{self.name} did not finish within {budget:.1f} s; it told the model: "
                            f"{summarize(run.told_model)}; stderr tail: {run.stderr[-600:]!r}", budget) from None
        finally:
            self._kill()
        self._record(run, conversation.results, seen, out, err)
        return run

    def _record(self, run: CodexRun, results: list[CommandResult], seen: int, out: bytes, err: bytes) -> None:
        run.exited_at = time.monotonic()
        run.returncode = self._proc.returncode if self._proc is not None else None
        run.stdout, run.stderr = out.decode(errors="replace"), err.decode(errors="replace")
        run.results = list(results)
        run.requests = [r for r in self.model.requests[seen:] if r.path.endswith("/responses")]
        run.first_request_at = run.requests[0].t if run.requests else None
        run.told_model = [o.text for result in results for o in result.outputs]

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        """The running ``codex exec`` (its process group holds the sandbox and codex), or None."""
        return self._proc if self._proc is not None and self._proc.returncode is None else None

    def _confinement(self) -> Confinement:
        assert self.confinement is not None
        return self.confinement

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Kill a codex still running and stop the scripted model."""
        self._kill()
        if self._proc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), 5)
        await self.model.close()
        self._started = False


def make_codex_subject(spec: str, url: str, home: Path, confinement: Confinement | None = None) -> CodexSubject:
    """The subject for an ``--execserver-client`` value ``codex`` or ``codex@VERSION`` (ValueError otherwise)."""
    return CodexSubject(url, home, version=codex_client_version(spec), confinement=confinement)
