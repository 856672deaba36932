"""A scripted model on loopback: it drives the Codex CLI's tool calls and reads back what codex delivered.

Codex (``codex exec`` with a custom model provider, ``wire_api="responses"``) POSTs ``/v1/responses`` and
reads server-sent events. Codex 0.171.0 needs exactly three events per turn: ``response.created``,
``response.output_item.done`` (one per output item: a ``function_call`` or an assistant ``message``) and
``response.completed`` carrying a ``usage`` object. The next request carries, in its ``input``, a
``function_call_output`` per call, whose text is what codex tells the model::

    Chunk ID: 1a2b3c
    Wall time: 0.0123 seconds
    Process exited with code 3            (or: Process running with session ID 7)
    Original token count: 59
    Output:
    <the merged stdout and stderr, as text>

Codex truncates that text to 10,000 bytes of output (the model's truncation policy; ``max_output_tokens``
lowers it; the config ``tool_output_token_limit`` together with ``max_output_tokens`` raises it, counting 4
bytes a token): the output then starts ``Warning: truncated output (original token count: N)`` and has
``…N chars truncated…`` where the middle was cut. Whatever the limit, codex keeps at most 1 MiB of one
call's output (``... N bytes omitted ...`` under the warning). A failed call is one line instead, such as
``exec_command failed: CreateProcess { message: "..." }``.

Layout: :func:`parse_tool_output` and :class:`Conversation` are the sans-I/O core (a request body in, SSE
events out, parsed results kept); :class:`ScriptedModel` is the aiohttp server around one conversation at
a time, recording every request.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

OUTPUT_LIMIT_BYTES = 10_000  # codex 0.171.0's default cut for one tool call's output (truncation policy of gpt-5)
OUTPUT_CAP_BYTES = 1 << 20  # codex keeps at most this much of one call's output, whatever the limit
MAX_YIELD_TIME_MS = 30_000  # codex clamps yield_time_ms to this
FINAL_MESSAGE = "done"

_HEADER_RE = re.compile(
    r"\AChunk ID: (?P<chunk>\S*)\n"
    r"Wall time: (?P<wall>[0-9.]+) seconds\n"
    r"(?:Process exited with code (?P<exit>-?\d+)|Process running with session ID (?P<session>\d+))\n"
    r"(?:Original token count: (?P<tokens>\d+)\n)?"
    r"Output:\n"
)
_TRUNCATION_HEAD_RE = re.compile(
    r"\AWarning: truncated output \(original token count: \d+\)\n(?:Total output lines: \d+\n)?"
    r"(?:\.\.\. \d+ bytes omitted \.\.\.\n)?\n"
)
_TRUNCATION_MID_RE = re.compile(r"…\d+ (?:chars|tokens) truncated…|\.\.\. \d+ bytes omitted \.\.\.")


# ---------------------------------------------------------------------------------------------------------
# Tool calls the script can make


@dataclass(frozen=True)
class ExecCommand:
    """An ``exec_command`` call: ``cmd`` runs under ``bash -c`` (``login`` false: no profile scripts)."""

    cmd: str
    workdir: str | None = None
    tty: bool = False
    yield_time_ms: int | None = None
    max_output_tokens: int | None = None
    login: bool = False

    name = "exec_command"

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {"cmd": self.cmd, "login": self.login}
        if self.workdir is not None:
            args["workdir"] = self.workdir
        if self.tty:
            args["tty"] = True
        if self.yield_time_ms is not None:
            args["yield_time_ms"] = self.yield_time_ms
        if self.max_output_tokens is not None:
            args["max_output_tokens"] = self.max_output_tokens
        return args


@dataclass(frozen=True)
class WriteStdin:
    """A ``write_stdin`` call; ``session_id`` None means the session of the last command still running."""

    chars: str
    session_id: int | None = None
    yield_time_ms: int | None = None

    name = "write_stdin"

    def arguments(self, session_id: int) -> dict[str, Any]:
        args: dict[str, Any] = {"session_id": session_id, "chars": self.chars}
        if self.yield_time_ms is not None:
            args["yield_time_ms"] = self.yield_time_ms
        return args


Step = ExecCommand | WriteStdin


# ---------------------------------------------------------------------------------------------------------
# Parsing what codex delivered


@dataclass(frozen=True)
class ToolOutput:
    """One ``function_call_output`` as codex wrote it, parsed.

    ``failure`` holds the whole text when it is not in the output format (codex reported an error);
    then every other field is None/empty.
    """

    text: str
    output: str = ""
    exit_code: int | None = None
    session_id: int | None = None
    original_token_count: int | None = None
    wall_time_s: float | None = None
    truncated: bool = False
    failure: str | None = None

    @property
    def running(self) -> bool:
        return self.session_id is not None


def parse_tool_output(text: str) -> ToolOutput:
    """Parse the text of a ``function_call_output`` (see the module docstring for the format)."""
    match = _HEADER_RE.match(text)
    if match is None:
        return ToolOutput(text=text, failure=text)
    output = text[match.end():]
    truncated = False
    head = _TRUNCATION_HEAD_RE.match(output)
    if head is not None:
        output, truncated = output[head.end():], True
    if _TRUNCATION_MID_RE.search(output):
        truncated = True
    return ToolOutput(
        text=text,
        output=output,
        exit_code=int(match["exit"]) if match["exit"] is not None else None,
        session_id=int(match["session"]) if match["session"] is not None else None,
        original_token_count=int(match["tokens"]) if match["tokens"] is not None else None,
        wall_time_s=float(match["wall"]),
        truncated=truncated,
    )


def output_text(item: Mapping[str, Any]) -> str:
    """The text of a ``function_call_output`` item (a string, or a list of ``input_text`` parts)."""
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):  # older shape: {"content": ..., "success": ...}
        return output_text({"output": output.get("content")})
    if isinstance(output, list):
        return "".join(str(part.get("text", "")) for part in output if isinstance(part, Mapping))
    return ""


@dataclass
class CommandResult:
    """Everything codex delivered for one ``exec_command`` and the ``write_stdin`` calls that followed it."""

    step: ExecCommand
    outputs: list[ToolOutput] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(o.output for o in self.outputs)

    @property
    def exit_code(self) -> int | None:
        return self.outputs[-1].exit_code if self.outputs else None

    @property
    def truncated(self) -> bool:
        return any(o.truncated for o in self.outputs)

    @property
    def failure(self) -> str | None:
        return next((o.failure for o in self.outputs if o.failure is not None), None)

    @property
    def finished(self) -> bool:
        """Codex reported an exit code or a failure (not still running)."""
        return bool(self.outputs) and not self.outputs[-1].running


# ---------------------------------------------------------------------------------------------------------
# The conversation: request bodies in, SSE events out


def sse(events: Sequence[Mapping[str, Any]]) -> bytes:
    """Server-sent events, one per mapping, named by its ``type``."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def turn_events(response_id: str, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events codex 0.171.0 needs for one model turn producing ``items``."""
    usage = {"input_tokens": 1, "input_tokens_details": None, "output_tokens": 1,
             "output_tokens_details": None, "total_tokens": 2}
    return [
        {"type": "response.created", "response": {"id": response_id}},
        *({"type": "response.output_item.done", "item": dict(item)} for item in items),
        {"type": "response.completed", "response": {"id": response_id, "usage": usage}},
    ]


class Conversation:
    """Plays ``steps`` against the agent's requests, one tool call per turn, then a final message.

    After an ``exec_command`` (or ``write_stdin``) whose process is still running, and no scripted
    ``write_stdin`` next, the model polls with an empty ``write_stdin`` until codex reports an exit,
    up to ``max_polls`` times. A request that brings no new output (codex retrying a turn) gets the
    previous answer again.
    """

    def __init__(self, steps: Sequence[Step], *, poll_yield_ms: int = MAX_YIELD_TIME_MS, max_polls: int = 20):
        self._steps = list(steps)
        self._poll_yield_ms = poll_yield_ms
        self._max_polls = max_polls
        self._polls = 0
        self._calls: dict[str, CommandResult] = {}  # call_id -> the command it belongs to
        self._answered: set[str] = set()
        self._issued: list[str] = []
        self._last_answer: list[dict[str, Any]] | None = None
        self.results: list[CommandResult] = []
        self.finished = False  # the final message was sent

    def respond(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The SSE events answering one ``/v1/responses`` request body."""
        new = self._take_outputs(body)
        if not new and self._last_answer is not None and self._issued and self._issued[-1] not in self._answered:
            return self._last_answer
        turn = len(self._issued) + 1
        item = self._next_item(turn)
        self._last_answer = turn_events(f"resp_{turn}", [item])
        return self._last_answer

    def _take_outputs(self, body: Mapping[str, Any]) -> list[str]:
        new: list[str] = []
        for item in body.get("input") or ():
            if not isinstance(item, Mapping) or item.get("type") != "function_call_output":
                continue
            call_id = str(item.get("call_id"))
            if call_id in self._calls and call_id not in self._answered:
                self._answered.add(call_id)
                self._calls[call_id].outputs.append(parse_tool_output(output_text(item)))
                new.append(call_id)
        return new

    def _next_item(self, turn: int) -> dict[str, Any]:
        current = self.results[-1] if self.results else None
        running = current is not None and current.outputs and current.outputs[-1].running
        next_is_stdin = bool(self._steps) and isinstance(self._steps[0], WriteStdin)
        if current is not None and running and not next_is_stdin and self._polls < self._max_polls:
            self._polls += 1
            return self._call(turn, WriteStdin("", yield_time_ms=self._poll_yield_ms), current)
        if self._steps:
            step = self._steps.pop(0)
            if isinstance(step, ExecCommand):
                self._polls = 0
                result = CommandResult(step)
                self.results.append(result)
                return self._call(turn, step, result)
            if current is None:
                raise ValueError("a write_stdin step needs an exec_command before it")
            return self._call(turn, step, current)
        self.finished = True
        return {"type": "message", "role": "assistant", "id": f"msg_{turn}",
                "content": [{"type": "output_text", "text": FINAL_MESSAGE}]}

    def _call(self, turn: int, step: Step, result: CommandResult) -> dict[str, Any]:
        call_id = f"call_{turn}"
        if isinstance(step, WriteStdin):
            session = step.session_id
            if session is None:
                session = next((o.session_id for o in reversed(result.outputs) if o.session_id is not None), None)
            if session is None:
                raise ValueError("write_stdin with no session: the command before it is not running")
            arguments = step.arguments(session)
        else:
            arguments = step.arguments()
        self._calls[call_id] = result
        self._issued.append(call_id)
        return {"type": "function_call", "id": f"fc_{turn}", "call_id": call_id, "name": step.name,
                "arguments": json.dumps(arguments)}


# ---------------------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class RecordedRequest:
    """One request the agent made: when (``time.monotonic()``), where, and its JSON body."""

    t: float
    method: str
    path: str
    body: Any
    answered: float | None = None  # when the answer was handed to aiohttp (``time.monotonic()``)


class ScriptedModel:
    """An aiohttp server on 127.0.0.1 answering ``/v1/responses`` from the current :class:`Conversation`.

    Usage: ``async with ScriptedModel() as model``, then ``model.play(steps)`` before each agent run;
    ``model.base_url`` goes into the agent's provider configuration. Every request is kept in
    ``model.requests`` (also unknown paths, answered 404).
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.conversation: Conversation | None = None
        self.gate: asyncio.Event | None = None  # when set to an Event, every answer waits for it
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def play(self, steps: Sequence[Step], **options: Any) -> Conversation:
        """Start a new conversation with ``steps``; requests recorded so far are kept."""
        self.conversation = Conversation(steps, **options)
        return self.conversation

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedModel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            self.requests.append(RecordedRequest(arrived, request.method, request.path, None))
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        index = len(self.requests)
        self.requests.append(RecordedRequest(arrived, request.method, request.path, body))
        if self.gate is not None:
            await self.gate.wait()
        if self.conversation is None:
            return web.json_response({"error": {"message": "no conversation is being played"}}, status=503)
        try:
            events = self.conversation.respond(body)
        except ValueError as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=400)
        response = web.Response(body=sse(events), content_type="text/event-stream")
        self.requests[index] = replace(self.requests[index], answered=time.monotonic())
        return response

    async def _other(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(RecordedRequest(time.monotonic(), request.method, request.path, None))
        return web.Response(status=404)
