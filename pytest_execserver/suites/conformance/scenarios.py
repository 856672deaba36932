"""Conformance scenarios. Expected values are what ``codex exec-server`` does on the wire, per release
(0.169.0 and 0.171.0; ``ctx.since("0.171.0")`` marks what changed).

Safety: every cwd and fs path is built with ``ctx.uri()``/``ctx.path()``, which only yield paths inside
the server's scratch directory; executables in argv are system binaries (/bin/sh, /bin/cat, ...).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_execserver.servers.confine import hand_to_server
from pytest_execserver.waiting import wait_until

from .harness import Ctx, b64, outcome_of, read_summary, unb64
from .rawclient import Frame, RawClient

Scenario = Callable[[Ctx], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__.removeprefix("sc_")] = fn
    return fn


def err(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def ok(result: Any) -> dict[str, Any]:
    return {"result": result}


def invalid_request(message: str) -> dict[str, Any]:
    return err(-32600, message)


def parse_error(detail: str) -> dict[str, Any]:
    return err(
        -32600,
        f"failed to parse websocket JSON-RPC message from exec-server websocket <peer>: {detail}",
    )


ENV_INFO_KEYS_0_169 = [
    "capabilities",
    "cwd",
    "executorVersion",
    "platformOs",
    "providerId",
    "shell",
    "tempDir",
    "temporaryDirectories",
    "userHomeDir",
]

CAPABILITY_NAMES_0_169 = [
    "networkProxyLaunch", "networkProxyReviewDomains", "credentialMasking",
    "credentialMaskingCustomProviders", "capabilityDiscoverySandbox", "fsWatchMissing",
    "capabilityDiscoveryV2", "environmentConfigRead", "httpHeaderEnvVars", "sandboxedFileStreaming",
    "fileWriteStreaming", "shellSnapshotV2", "windowsMxc", "linuxRootWritePreservesDevices",
    "linuxApprovedRootWritePreservesRestrictions",
]  # fmt: skip

NOT_INITIALIZED = "client must call initialize before using {} methods"
NOT_INITIALIZED_YET = "client must send initialized before using {} methods"


def env_info_keys(ctx: Ctx) -> list[str]:
    # prependPathDirs is sent by 0.169.0 too when codex runs from its npm package (its codex-path/ exists);
    # a bare binary omits it (and reports executorVersion 0.0.0) on either release
    return sorted([*ENV_INFO_KEYS_0_169, "prependPathDirs"])


def capability_names(ctx: Ctx) -> list[str]:
    names = list(CAPABILITY_NAMES_0_169)
    if ctx.since("0.171.0"):
        names.append("networkProxyTransparentTcp")
    return sorted(names)


def expected_shell(ctx: Ctx) -> dict[str, str]:
    """The shell codex reports for the server's user (the owner of its scratch): the login shell when
    codex knows it (bash, zsh, sh), else bash on PATH (as ``nobody``, whose shell is nologin: /usr/bin/bash
    on Debian 12, measured with codex 0.171.0), else zsh, else /bin/sh."""
    try:
        login = pwd.getpwuid(ctx.server.scratch.stat().st_uid).pw_shell
    except KeyError:
        login = ""
    path = login if os.path.basename(login) in ("zsh", "bash", "sh") and os.access(login, os.X_OK) else (
        shutil.which("bash") or shutil.which("zsh") or "/bin/sh")
    return {"name": os.path.basename(path), "path": path}


def env_info_expected(ctx: Ctx) -> dict[str, Any]:
    info: dict[str, Any] = {
        "shell": expected_shell(ctx),
        "executorVersion": ctx.version,
        "providerId": "<providerId>",
        "cwd": "file://<scratch>",
        "userHomeDir": "file://<scratch>",
        "platformOs": "linux",
        "prependPathDirs": "<file-uris>",
    }
    info.update({
        "temporaryDirectories": ["file://<scratch>/tmp"],
        "tempDir": "file://<scratch>/tmp",
        "capabilities": capability_names(ctx),
    })  # fmt: skip
    return info


def spawn_error(ctx: Ctx, message: str, kind: str) -> dict[str, Any]:
    """A failed ``process/start``: -32603, and since 0.171.0 ``data.kind`` (spawnNotFound, ...)."""
    error: dict[str, Any] = {"code": -32603, "message": message}
    if ctx.since("0.171.0"):
        error["data"] = {"kind": kind}
    return {"error": error}


async def resume_when_detached(ctx: Ctx, client: RawClient, key: str, session_id: str, name: str) -> None:
    """``initialize`` with ``resumeSessionId``, retried while the server still holds the closed connection
    (-32010, session already attached); the successful answer is recorded under ``key``."""
    answer: dict[str, Frame] = {}

    async def attempt() -> bool:
        frame = await client.request("initialize", {"clientName": name, "resumeSessionId": session_id})
        if frame.get("error", {}).get("code") == -32010:
            return False
        answer["frame"] = frame
        return True

    await wait_until(attempt, 5, f"session {session_id} resumable")
    ctx.expect(key, outcome_of(answer["frame"]).get("result", {}).get("sessionId"), session_id)


def _pids_with(marker: str) -> set[int]:
    """Live processes whose command line holds ``marker``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.add(int(entry))
            except OSError:
                continue
    return found


def _reaped(pids: set[int]) -> bool:
    """Every one of ``pids`` is gone from /proc: its parent (the server) has reaped it, so has seen the exit."""
    return not any(os.path.exists(f"/proc/{pid}") for pid in pids)


async def still_open(client: RawClient) -> bool:
    """Whether the connection still answers requests."""
    if client.closed:
        return False
    try:
        frame = await client.request("conformance/ping", {}, timeout=2)
    except AssertionError:
        return False
    return "error" in frame


async def dropped(client: RawClient, settle: float = 0.3) -> bool:
    """Whether the server closed the connection (within ``settle`` seconds)."""
    try:
        await client.wait_closed(settle)
    except AssertionError:
        return False
    return True


# ====================================================================== initialize / initialized


@scenario
async def sc_initialize_result(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    frame = await ctx.rpc(
        c,
        "initialize",
        "initialize",
        {"clientName": "conformance"},
        ok({"sessionId": "<uuid>", "environmentInfo": env_info_expected(ctx)}),
    )
    info = frame.get("result", {}).get("environmentInfo", {})
    ctx.expect("initialize.environmentInfo.keys", sorted(info), env_info_keys(ctx))
    ctx.expect("initialize.capabilities.type", type(info.get("capabilities")).__name__, "dict")
    await c.notify("initialized")
    await ctx.rpc(c, "environment/info", "environment/info", {}, ok(env_info_expected(ctx)))
    await ctx.rpc(
        c, "environment/info no params", "environment/info", None, ok(env_info_expected(ctx)), with_params=False
    )
    await ctx.rpc(
        c,
        "environment/info params=[]",
        "environment/info",
        [],
        err(-32602, "invalid type: sequence, expected unit"),
    )
    # initialized twice is tolerated
    await c.notify("initialized")
    ctx.expect("second initialized keeps connection", await still_open(c), True)


@scenario
async def sc_requests_before_initialize(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    start = ctx.start_params("p", ["/bin/true"])
    await ctx.rpc(c, "process/start", "process/start", start, invalid_request(NOT_INITIALIZED.format("exec")))
    await ctx.rpc(c, "process/start bad params", "process/start", {}, err(-32602, "missing field `processId`"))
    await ctx.rpc(
        c, "process/read", "process/read", {"processId": "p"}, invalid_request(NOT_INITIALIZED.format("exec"))
    )
    await ctx.rpc(
        c,
        "process/write",
        "process/write",
        {"processId": "p", "chunk": b64("x"), "writeId": "w"},
        invalid_request(NOT_INITIALIZED.format("exec")),
    )
    await ctx.rpc(
        c,
        "process/terminate",
        "process/terminate",
        {"processId": "p"},
        invalid_request(NOT_INITIALIZED.format("exec")),
    )
    await ctx.rpc(
        c,
        "fs/readFile",
        "fs/readFile",
        {"path": ctx.uri("x")},
        invalid_request(NOT_INITIALIZED.format("filesystem")),
    )
    await ctx.rpc(
        c,
        "environment/info",
        "environment/info",
        {},
        invalid_request(NOT_INITIALIZED.format("environment info")),
    )
    ctx.expect("connection stays open", await still_open(c), True)
    # the connection can still initialize afterwards
    frame = await c.handshake()
    ctx.expect(
        "initialize after rejected requests",
        sorted(frame.get("result", {})),
        ["environmentInfo", "sessionId"],
    )


@scenario
async def sc_requests_before_initialized(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    await c.request("initialize", {"clientName": "conformance"})
    await ctx.rpc(
        c,
        "process/start",
        "process/start",
        ctx.start_params("p", ["/bin/true"]),
        invalid_request(NOT_INITIALIZED_YET.format("exec")),
    )
    await ctx.rpc(
        c,
        "process/read",
        "process/read",
        {"processId": "p"},
        invalid_request(NOT_INITIALIZED_YET.format("exec")),
    )
    await ctx.rpc(
        c,
        "fs/readFile",
        "fs/readFile",
        {"path": ctx.uri("x")},
        invalid_request(NOT_INITIALIZED_YET.format("filesystem")),
    )
    await ctx.rpc(
        c,
        "environment/info",
        "environment/info",
        {},
        invalid_request(NOT_INITIALIZED_YET.format("environment info")),
    )
    await c.notify("initialized")
    await ctx.rpc(
        c,
        "process/read after initialized",
        "process/read",
        {"processId": "p"},
        invalid_request("unknown process id p"),
    )


@scenario
async def sc_double_initialize(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    first = await c.request("initialize", {"clientName": "conformance"})
    ctx.expect("first", sorted(first.get("result", {})), ["environmentInfo", "sessionId"])
    await ctx.rpc(
        c,
        "second",
        "initialize",
        {"clientName": "again"},
        invalid_request("initialize may only be sent once per connection"),
    )
    await c.notify("initialized")
    await ctx.rpc(
        c,
        "third after initialized",
        "initialize",
        {"clientName": "again"},
        invalid_request("initialize may only be sent once per connection"),
    )
    ctx.expect("connection stays open", await still_open(c), True)


@scenario
async def sc_initialized_before_initialize_drops(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    await c.notify("initialized")
    ctx.expect("connection dropped", await dropped(c, 2.0), True)
    ctx.expect("no frames sent", c.frames, [])


@scenario
async def sc_initialize_retry_after_failure(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    await ctx.rpc(
        c,
        "unknown resume",
        "initialize",
        {"clientName": "c", "resumeSessionId": "no-such-session"},
        invalid_request("unknown session id no-such-session"),
    )
    await ctx.rpc(
        c,
        "fresh initialize after failed one",
        "initialize",
        {"clientName": "c"},
        expect=["environmentInfo", "sessionId"],
        shape=lambda o: sorted(o.get("result", o)),
    )


@scenario
async def sc_initialize_wrong_params(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    await ctx.rpc(
        c,
        "no params",
        "initialize",
        None,
        err(-32602, "invalid type: null, expected struct InitializeParams"),
        with_params=False,
    )
    await ctx.rpc(
        c,
        "params []",
        "initialize",
        [],
        err(-32602, "invalid length 0, expected struct InitializeParams with 2 elements"),
    )
    await ctx.rpc(
        c,
        "clientName number",
        "initialize",
        {"clientName": 5},
        err(-32602, "invalid type: number, expected a string"),
    )
    await ctx.rpc(c, "missing clientName", "initialize", {}, err(-32602, "missing field `clientName`"))
    await ctx.rpc(
        c,
        "then a good one",
        "initialize",
        {"clientName": "c"},
        expect=["environmentInfo", "sessionId"],
        shape=lambda o: sorted(o.get("result", o)),
    )


# ====================================================================== JSON-RPC framing


@scenario
async def sc_unknown_methods(ctx: Ctx) -> None:
    c = await ctx.connect(init=False)
    await ctx.rpc(
        c,
        "before init",
        "bogus/method",
        {},
        err(-32601, "exec-server stub does not implement `bogus/method` yet"),
    )
    await c.handshake()
    await ctx.rpc(
        c,
        "after init",
        "bogus/method",
        {},
        err(-32601, "exec-server stub does not implement `bogus/method` yet"),
    )
    await ctx.rpc(
        c,
        "notification name as request",
        "process/output",
        {},
        err(-32601, "exec-server stub does not implement `process/output` yet"),
    )
    await ctx.rpc(
        c,
        "no params",
        "nothing",
        None,
        err(-32601, "exec-server stub does not implement `nothing` yet"),
        with_params=False,
    )
    for rid in ("s-1", -5):
        await c.send({"jsonrpc": "2.0", "id": rid, "method": "bogus"})
        frame = await c.response(rid)
        ctx.expect(
            f"id {rid!r} echoed",
            {"id": frame.get("id"), **outcome_of(frame)},
            {"id": rid, **err(-32601, "exec-server stub does not implement `bogus` yet")},
        )
    await c.send({"jsonrpc": "1.0", "id": 99, "method": "bogus"})
    frame = await c.response(99)
    ctx.expect(
        "jsonrpc 1.0 accepted",
        outcome_of(frame),
        err(-32601, "exec-server stub does not implement `bogus` yet"),
    )
    await c.send({"id": 98, "method": "bogus"})
    frame = await c.response(98)
    ctx.expect(
        "missing jsonrpc accepted",
        outcome_of(frame),
        err(-32601, "exec-server stub does not implement `bogus` yet"),
    )


@scenario
async def sc_unknown_notification_drops(ctx: Ctx) -> None:
    c = await ctx.connect()
    await c.notify("bogus/notification", {})
    ctx.expect("connection dropped", await dropped(c, 2.0), True)
    c2 = await ctx.connect(init=False)
    await c2.notify("process/start", {})
    ctx.expect("known method sent as notification drops too", await dropped(c2, 2.0), True)


@scenario
async def sc_client_responses_drop(ctx: Ctx) -> None:
    for label, frame in (
        ("result", {"jsonrpc": "2.0", "id": 3, "result": {}}),
        ("error", {"jsonrpc": "2.0", "id": 4, "error": {"code": 1, "message": "m"}}),
    ):
        c = await ctx.connect()
        n = len(c.frames)
        await c.send(frame)
        ctx.expect(f"client {label} frame drops connection", await dropped(c, 2.0), True)
        ctx.expect(f"client {label} frame: nothing answered", c.frames[n:], [])


MALFORMED = (
    ("not json", "not json", "expected ident at line 1 column 2"),
    ("empty array", "[]", "expected a JSON-RPC object"),
    (
        "batch",
        '[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientName":"x"}}]',
        "expected a JSON-RPC object",
    ),
    ("string", '"str"', "expected a JSON-RPC object"),
    ("number", "42", "expected a JSON-RPC object"),
    ("empty object", "{}", "missing field `error`"),
    ("id only", '{"id":10}', "missing field `error`"),
    (
        "null id",
        '{"jsonrpc":"2.0","id":null,"method":"bogus"}',
        "data did not match any variant of untagged enum RequestId",
    ),
    (
        "float id",
        '{"jsonrpc":"2.0","id":1.5,"method":"bogus"}',
        "data did not match any variant of untagged enum RequestId",
    ),
)


@scenario
async def sc_malformed_frames(ctx: Ctx) -> None:
    for init in (False, True):
        c = await ctx.connect(init=init)
        for label, raw, detail in MALFORMED:
            n = len(c.frames)
            await c.send_raw(raw)
            frame = await c.wait_for(lambda f: "id" in f, start=n, what=f"answer to {label}")
            ctx.expect(
                f"init={init} {label}",
                {"id": frame.get("id"), **outcome_of(frame)},
                {"id": -1, **parse_error(detail)},
            )
        ctx.expect(f"init={init} connection stays open", await still_open(c), True)


@scenario
async def sc_binary_frame(ctx: Ctx) -> None:
    c = await ctx.connect()
    await c.send_raw(b'{"jsonrpc":"2.0","id":41,"method":"bogus"}')
    frame = await c.response(41)
    ctx.expect(
        "binary frame is parsed as JSON-RPC",
        outcome_of(frame),
        err(-32601, "exec-server stub does not implement `bogus` yet"),
    )


@scenario
async def sc_frame_shape(ctx: Ctx) -> None:
    """Exact top-level keys of responses and notifications (codex sends no "jsonrpc" member)."""
    c = await ctx.connect(init=False)
    init = await c.request("initialize", {"clientName": "c"})
    ctx.expect("initialize response keys", sorted(init), ["id", "result"])
    await c.notify("initialized")
    bad = await c.request("bogus", {})
    ctx.expect("error response keys", sorted(bad), ["error", "id"])
    ctx.expect("error object keys", sorted(bad["error"]), ["code", "message"])
    await ctx.start(c, "start", "p", ["/bin/sh", "-c", "echo x"])
    await ctx.run_to_close(c, "run", "p")
    ctx.expect("notification keys", sorted({tuple(sorted(f)) for f in c.notifications()}), [("method", "params")])


# ====================================================================== wrong params / base64


@scenario
async def sc_wrong_param_types(ctx: Ctx) -> None:
    c = await ctx.connect()
    p = ctx.start_params
    cases: list[tuple[str, str, Any, dict[str, Any]]] = [
        (
            "start processId number",
            "process/start",
            p(5, ["/bin/true"]),  # type: ignore[arg-type]
            err(-32602, "invalid type: number, expected a string"),
        ),
        (
            "start argv string",
            "process/start",
            p("a", "/bin/true"),  # type: ignore[arg-type]
            err(-32602, 'invalid type: string "/bin/true", expected a sequence'),
        ),
        (
            "start env list",
            "process/start",
            p("a", ["/bin/true"], env=[]),
            err(-32602, "invalid type: sequence, expected a map"),
        ),
        (
            "start env value number",
            "process/start",
            p("a", ["/bin/true"], env={"A": 1}),
            err(-32602, "invalid type: number, expected a string"),
        ),
        (
            "start tty string",
            "process/start",
            p("a", ["/bin/true"], tty="yes"),
            err(-32602, 'invalid type: string "yes", expected a boolean'),
        ),
        (
            "start missing env",
            "process/start",
            {k: v for k, v in p("a", ["/bin/true"]).items() if k != "env"},
            err(-32602, "missing field `env`"),
        ),
        (
            "start missing tty",
            "process/start",
            {k: v for k, v in p("a", ["/bin/true"]).items() if k != "tty"},
            err(-32602, "missing field `tty`"),
        ),
        ("start empty argv", "process/start", p("a", []), err(-32602, "argv must not be empty")),
        (
            "start relative cwd",
            "process/start",
            p("a", ["/bin/true"], cwd="relative"),
            err(-32602, "invalid URI: relative URL without a base"),
        ),
        (
            "start plain path cwd",
            "process/start",
            p("a", ["/bin/true"], cwd=ctx.path()),
            err(-32602, "invalid URI: relative URL without a base"),
        ),
        (
            "start http cwd",
            "process/start",
            p("a", ["/bin/true"], cwd="http://x/y"),
            err(-32602, "unsupported path URI scheme `http`"),
        ),
        (
            "read processId number",
            "process/read",
            {"processId": 1},
            err(-32602, "invalid type: number, expected a string"),
        ),
        (
            "read afterSeq string",
            "process/read",
            {"processId": "a", "afterSeq": "x"},
            err(-32602, 'invalid type: string "x", expected u64'),
        ),
        (
            "read afterSeq negative",
            "process/read",
            {"processId": "a", "afterSeq": -1},
            err(-32602, "invalid number"),
        ),
        ("read missing processId", "process/read", {}, err(-32602, "missing field `processId`")),
        (
            "read null params",
            "process/read",
            None,
            err(-32602, "invalid type: null, expected struct ReadParams"),
        ),
        (
            "write missing writeId",
            "process/write",
            {"processId": "a", "chunk": ""},
            err(-32602, "missing field `writeId`"),
        ),
        (
            "signal unknown variant",
            "process/signal",
            {"processId": "a", "signal": "kill"},
            err(-32602, "unknown variant `kill`, expected `interrupt`"),
        ),
        ("terminate missing processId", "process/terminate", {}, err(-32602, "missing field `processId`")),
        ("fs/readFile missing path", "fs/readFile", {}, err(-32602, "missing field `path`")),
        (
            "fs/readFile plain path",
            "fs/readFile",
            {"path": ctx.path("a.txt")},
            err(-32602, "invalid URI: relative URL without a base"),
        ),
        (
            "fs/copy missing recursive",
            "fs/copy",
            {"sourcePath": ctx.uri("a"), "destinationPath": ctx.uri("b")},
            err(-32602, "missing field `recursive`"),
        ),
    ]
    for label, method, params, expected in cases:
        if params is None:
            await ctx.rpc(c, label, method, None, expected, with_params=False)
        else:
            await ctx.rpc(c, label, method, params, expected)
    ctx.expect("connection stays open", await still_open(c), True)
    # unknown extra fields are ignored
    await ctx.start(c, "start with unknown field", "x", ["/bin/true"], extraUnknown=1)
    await ctx.run_to_close(
        c,
        "run with unknown field",
        "x",
        {"output": {}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )


@scenario
async def sc_invalid_base64(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "start cat", "cat", ["/bin/cat"], pipeStdin=True)
    await ctx.rpc(
        c,
        "process/write invalid base64",
        "process/write",
        {"processId": "cat", "chunk": "!!!notb64", "writeId": "w1"},
        err(-32602, "Invalid symbol 33, offset 0."),
    )
    await ctx.rpc(
        c,
        "fs/writeFile invalid base64",
        "fs/writeFile",
        {"path": ctx.uri("bad.txt"), "dataBase64": "!!!"},
        invalid_request("fs/writeFile requires valid base64 dataBase64: Invalid symbol 33, offset 0."),
    )
    await ctx.rpc(
        c,
        "bad file not created",
        "fs/getMetadata",
        {"path": ctx.uri("bad.txt")},
        err(-32004, "No such file or directory (os error 2)"),
    )
    await ctx.rpc(c, "terminate cat", "process/terminate", {"processId": "cat"}, ok({"running": True}))
    await ctx.run_to_close(c, "cat", "cat", {"output": {}, "exitCode": 137, "terminal-events": ["exited", "closed"]})


# ====================================================================== process/start


@scenario
async def sc_pipes_stdout_stderr_exit(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "start", "p1", ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    await ctx.run_to_close(
        c,
        "run",
        "p1",
        {
            "output": {"stderr": "err\n", "stdout": "out\n"},
            "exitCode": 3,
            "terminal-events": ["exited", "closed"],
        },
    )
    await ctx.start(c, "start silent", "p2", ["/bin/true"])
    await ctx.run_to_close(
        c, "run silent", "p2", {"output": {}, "exitCode": 0, "terminal-events": ["exited", "closed"]}
    )
    # no stdin by default: reading stdin sees EOF immediately
    await ctx.start(c, "start stdin reader", "p3", ["/bin/sh", "-c", "cat; echo done"])
    await ctx.run_to_close(
        c,
        "run stdin reader",
        "p3",
        {"output": {"stdout": "done\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    frame = await c.request("process/read", {"processId": "p1"})
    notes = c.notifications(process_id="p1")
    closed_seq = next(n["params"]["seq"] for n in notes if n["method"] == "process/closed")  # not always last
    ctx.check(
        "read nextSeq == closed seq + 1",
        frame["result"]["nextSeq"] == closed_seq + 1,
        {"read": frame, "closed_seq": closed_seq},
    )
    outs = sorted((n["params"] for n in notes if n["method"] == "process/output"), key=lambda o: o["seq"])
    read_chunks = frame["result"]["chunks"]
    ctx.check(
        "read chunks == output notifications",
        read_chunks == [{k: o[k] for k in ("seq", "stream", "chunk")} for o in outs],
        {"read": read_chunks, "notes": outs},
    )


@scenario
async def sc_spawn_failures(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.rpc(
        c,
        "missing executable",
        "process/start",
        ctx.start_params("x", [ctx.path("no-such-binary")]),
        spawn_error(ctx, "No such file or directory (os error 2)", "spawnNotFound"),
    )
    await ctx.rpc(
        c,
        "missing cwd",
        "process/start",
        ctx.start_params("y", ["/bin/true"], cwd=ctx.uri("missing")),
        spawn_error(ctx, "No such file or directory (os error 2)", "spawnNotFound"),
    )
    await ctx.rpc(
        c,
        "directory as program",
        "process/start",
        ctx.start_params("z", [ctx.path()]),
        spawn_error(ctx, "Permission denied (os error 13)", "spawnPermissionDenied"),
    )
    await ctx.rpc(
        c,
        "nul byte in argv",
        "process/start",
        ctx.start_params("n", ["/bin/true", "a\u0000b"]),
        spawn_error(ctx, "nul byte found in provided data", "spawnFailed"),
    )
    await ctx.rpc(
        c,
        "pty program not on the child's PATH",
        "process/start",
        ctx.start_params("t", ["no-such-program"], tty=True, env={"PATH": "/usr/bin:/bin"}),
        spawn_error(
            ctx, 'Unable to spawn no-such-program because:\nNo viable candidates found in PATH "/usr/bin:/bin"',
            "spawnFailed",
        ),
    )
    await ctx.rpc(
        c,
        "pty program without a PATH",
        "process/start",
        ctx.start_params("u", ["true"], tty=True),
        spawn_error(ctx, "Unable to spawn true because:\nUnable to resolve the PATH", "spawnFailed"),
    )
    await ctx.rpc(
        c,
        "failed id is not registered",
        "process/read",
        {"processId": "x"},
        invalid_request("unknown process id x"),
    )
    await ctx.start(c, "failed id can be reused", "x", ["/bin/true"])
    await ctx.run_to_close(c, "reused", "x", {"output": {}, "exitCode": 0, "terminal-events": ["exited", "closed"]})


@scenario
async def sc_pty(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(
        c, "start", "t", ["/bin/sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo both-tty; echo e >&2"], tty=True
    )
    await ctx.run_to_close(
        c,
        "run",
        "t",
        {
            "output": {"pty": "/dev/pts/<n>\r\nboth-tty\r\ne\r\n"},
            "exitCode": 0,
            "terminal-events": ["exited", "closed"],
        },
    )
    # stdin of a tty process is writable; the terminal echoes what is typed
    await ctx.start(c, "start cat", "cat", ["/bin/sh", "-c", "read line; echo got:$line"], tty=True)
    await ctx.rpc(
        c,
        "write",
        "process/write",
        {"processId": "cat", "chunk": b64("hi\n"), "writeId": "w1"},
        ok({"status": "accepted"}),
    )
    await ctx.run_to_close(
        c,
        "run cat",
        "cat",
        {"output": {"pty": "hi\r\ngot:hi\r\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )


@scenario
async def sc_arg0_env_cwd(ctx: Ctx) -> None:
    c = await ctx.connect()
    (ctx.workdir / "sub").mkdir()
    hand_to_server(ctx.server.scratch, ctx.workdir / "sub")
    await ctx.start(c, "arg0", "a", ["/bin/sh", "-c", "echo $0"], arg0="my-arg0")
    await ctx.run_to_close(
        c,
        "arg0 run",
        "a",
        {"output": {"stdout": "my-arg0\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await ctx.start(c, "no arg0", "a2", ["/bin/sh", "-c", "echo $0"])
    await ctx.run_to_close(
        c,
        "no arg0 run",
        "a2",
        {"output": {"stdout": "/bin/sh\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await ctx.start(c, "env exact", "e", ["/usr/bin/env"], env={"ALPHA": "1", "BETA": "two words"})
    summary = await ctx.run_to_close(c, "env exact run", "e")
    lines = sorted(summary["output"].get("stdout", "").splitlines())
    ctx.expect("env is exactly the given map", lines, ["ALPHA=1", "BETA=two words"])
    await ctx.start(c, "cwd uri", "d", ["/bin/pwd"], cwd=ctx.uri("sub"))
    await ctx.run_to_close(
        c,
        "cwd run",
        "d",
        {"output": {"stdout": "<work>/sub\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await ctx.start(c, "empty processId", "", ["/bin/true"])
    await ctx.run_to_close(
        c, "empty processId run", "", {"output": {}, "exitCode": 0, "terminal-events": ["exited", "closed"]}
    )


@scenario
async def sc_duplicate_process_id(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "first", "dup", ["/bin/sleep", "5"])
    await ctx.rpc(
        c,
        "while running",
        "process/start",
        ctx.start_params("dup", ["/bin/true"]),
        invalid_request("process dup already exists"),
    )
    await ctx.rpc(c, "terminate", "process/terminate", {"processId": "dup"}, ok({"running": True}))
    await ctx.run_to_close(c, "run", "dup", {"output": {}, "exitCode": 137, "terminal-events": ["exited", "closed"]})
    await ctx.rpc(
        c,
        "after exit",
        "process/start",
        ctx.start_params("dup", ["/bin/true"]),
        invalid_request("process dup already exists"),
    )
    # process ids are per session: another connection may use the same id
    c2 = await ctx.connect()
    await ctx.start(c2, "same id in another session", "dup", ["/bin/true"])
    await ctx.run_to_close(
        c2, "other session run", "dup", {"output": {}, "exitCode": 0, "terminal-events": ["exited", "closed"]}
    )


# ====================================================================== notifications and seq


@scenario
async def sc_seq_counter_many_chunks(ctx: Ctx) -> None:
    c = await ctx.connect()
    script = "for i in 1 2 3 4 5; do echo o$i; echo e$i >&2; sleep 0.02; done; exit 7"
    await ctx.start(c, "start", "m", ["/bin/sh", "-c", script])
    await ctx.start(c, "start other", "n", ["/bin/sh", "-c", "echo other"])
    summary = await ctx.run_to_close(
        c,
        "run",
        "m",
        {
            "output": {"stderr": "e1\ne2\ne3\ne4\ne5\n", "stdout": "o1\no2\no3\no4\no5\n"},
            "exitCode": 7,
            "terminal-events": ["exited", "closed"],
        },
    )
    del summary
    await ctx.run_to_close(
        c,
        "run other (own counter from 1)",
        "n",
        {"output": {"stdout": "other\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await c.request("process/read", {"processId": "m"})  # a round trip: anything queued before it has arrived
    frames = [f for f in c.frames if "method" in f and (f.get("params") or {}).get("processId") == "m"]
    closed_at = next(i for i, f in enumerate(frames) if f["method"] == "process/closed")
    closed_seq = frames[closed_at]["params"]["seq"]
    # codex may put the (lower-seq) exited after closed on the wire (docs/protocol.md, "Wire order")
    after = [f["method"] for f in frames[closed_at + 1 :]
             if not (f["method"] == "process/exited" and f["params"]["seq"] < closed_seq)]
    ctx.expect("nothing after closed but a lower-seq exited", after, [])


# ====================================================================== process/read


@scenario
async def sc_read_after_seq_and_max_bytes(ctx: Ctx) -> None:
    c = await ctx.connect()
    script = "printf aaaa; sleep 0.15; printf bbbb; sleep 0.15; printf cccc; sleep 0.15"
    await ctx.start(c, "start", "r", ["/bin/sh", "-c", script])
    await ctx.run_to_close(
        c,
        "run",
        "r",
        {"output": {"stdout": "aaaabbbbcccc"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    chunks = sorted((n["params"] for n in c.notifications("process/output", "r")), key=lambda o: o["seq"])
    ctx.expect("three separate chunks", [unb64(ch["chunk"]).decode() for ch in chunks], ["aaaa", "bbbb", "cccc"])

    def shaped(o: dict[str, Any]) -> Any:
        if "result" not in o:
            return o
        r = o["result"]  # chunks as (seq, stream, text) triples
        return {
            **{k: v for k, v in r.items() if k != "chunks"},
            "chunks": [(ch["seq"], ch["stream"], unb64(ch["chunk"]).decode()) for ch in r["chunks"]],
        }

    done = {"exited": True, "exitCode": 0, "closed": True, "failure": None, "sandboxDenied": False}
    all3 = [[1, "stdout", "aaaa"], [2, "stdout", "bbbb"], [3, "stdout", "cccc"]]
    for label, params, chunks_expected, next_seq in (
        ("all", {}, all3, 6),
        ("afterSeq 0", {"afterSeq": 0}, all3, 6),
        ("afterSeq 1", {"afterSeq": 1}, all3[1:], 6),
        ("afterSeq 3", {"afterSeq": 3}, [], 6),
        ("afterSeq past end", {"afterSeq": 100}, [], 6),
        ("maxBytes 0", {"maxBytes": 0}, all3[:1], 2),
        ("maxBytes 1", {"maxBytes": 1}, all3[:1], 2),
        ("maxBytes 4", {"maxBytes": 4}, all3[:1], 2),
        ("maxBytes 5", {"maxBytes": 5}, all3[:1], 2),
        ("maxBytes 8", {"maxBytes": 8}, all3[:2], 3),
        ("maxBytes 8 afterSeq 1", {"maxBytes": 8, "afterSeq": 1}, all3[1:], 4),
        ("maxBytes 9 afterSeq 1", {"maxBytes": 9, "afterSeq": 1}, all3[1:], 4),
        ("maxBytes 12", {"maxBytes": 12}, all3, 4),
        ("maxBytes 1000", {"maxBytes": 1000}, all3, 4),
        ("maxBytes 8 afterSeq 3", {"maxBytes": 8, "afterSeq": 3}, [], 6),
    ):
        await ctx.rpc(
            c,
            f"read {label}",
            "process/read",
            {"processId": "r", **params},
            {"chunks": [tuple(x) for x in chunks_expected], "nextSeq": next_seq, **done},
            shape=shaped,
        )
    await ctx.rpc(c, "read unknown", "process/read", {"processId": "nope"}, invalid_request("unknown process id nope"))


@scenario
async def sc_read_wait_ms_long_poll(ctx: Ctx) -> None:
    c = await ctx.connect()
    running = {"exited": False, "exitCode": None, "closed": False, "failure": None, "sandboxDenied": False}
    await ctx.start(c, "start idle", "idle", ["/bin/sleep", "5"])
    t0 = time.monotonic()
    await ctx.rpc(
        c,
        "waitMs with no output times out empty",
        "process/read",
        {"processId": "idle", "waitMs": 300},
        ok({**running, "output": {}}),
        shape=read_summary,
    )
    elapsed = time.monotonic() - t0
    ctx.check("empty long-poll waited ~waitMs", 0.25 <= elapsed < 2.0, elapsed)
    t0 = time.monotonic()
    await ctx.rpc(
        c,
        "waitMs 0 returns at once",
        "process/read",
        {"processId": "idle", "waitMs": 0},
        ok({**running, "output": {}}),
        shape=read_summary,
    )
    ctx.check("waitMs 0 is immediate", time.monotonic() - t0 < 0.2, time.monotonic() - t0)
    await ctx.rpc(c, "terminate idle", "process/terminate", {"processId": "idle"}, ok({"running": True}))

    await ctx.start(c, "start", "w", ["/bin/sh", "-c", "sleep 0.4; echo late; sleep 0.4; exit 5"])
    t0 = time.monotonic()
    await ctx.rpc(
        c,
        "long-poll wakes on output",
        "process/read",
        {"processId": "w", "waitMs": 4000},
        ok({**running, "output": {"stdout": "late\n"}}),
        shape=read_summary,
        timeout=6,
    )
    elapsed = time.monotonic() - t0
    ctx.check("long-poll returned on output, before waitMs", 0.2 <= elapsed < 2.5, elapsed)
    out_seq = c.notifications("process/output", "w")[-1]["params"]["seq"]
    t0 = time.monotonic()
    await ctx.rpc(
        c,
        "long-poll wakes on exit",
        "process/read",
        {"processId": "w", "afterSeq": out_seq, "waitMs": 4000},
        expect={"exited": True, "exitCode": 5, "output": {}},
        shape=lambda o: {
            k: v for k, v in (read_summary(o).get("result") or o).items() if k in ("exited", "exitCode", "output")
        },
        timeout=6,
    )
    elapsed = time.monotonic() - t0
    ctx.check("long-poll returned on exit, before waitMs", 0.2 <= elapsed < 2.5, elapsed)
    await ctx.run_to_close(
        c,
        "run",
        "w",
        {"output": {"stdout": "late\n"}, "exitCode": 5, "terminal-events": ["exited", "closed"]},
    )
    t0 = time.monotonic()
    await ctx.rpc(
        c,
        "waitMs after close returns at once",
        "process/read",
        {"processId": "w", "afterSeq": 100, "waitMs": 3000},
        ok(
            {
                "exited": True,
                "exitCode": 5,
                "closed": True,
                "failure": None,
                "sandboxDenied": False,
                "output": {},
            }
        ),
        shape=read_summary,
    )
    ctx.check("read after close does not wait", time.monotonic() - t0 < 1.0, time.monotonic() - t0)
    await ctx.run_to_close(c, "idle", "idle", {"output": {}, "exitCode": 137, "terminal-events": ["exited", "closed"]})


@scenario
async def sc_requests_serialized_per_connection(ctx: Ctx) -> None:
    """codex handles one request at a time per connection (--concurrent-requests defaults to 1)."""
    c = await ctx.connect()
    await ctx.start(c, "start", "s", ["/bin/sleep", "5"])
    first = c.new_id()
    await c.send({"jsonrpc": "2.0", "id": first, "method": "process/read", "params": {"processId": "s", "waitMs": 400}})
    second = c.new_id()
    await c.send({"jsonrpc": "2.0", "id": second, "method": "bogus", "params": {}})
    await c.response(first)
    await c.response(second)
    order = [f["id"] for f in c.frames if f.get("id") in (first, second)]
    ctx.expect("responses in request order (long-poll blocks the next request)", order, [first, second])
    # another connection is not blocked by it
    c2 = await ctx.connect()
    first = c.new_id()
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": first,
            "method": "process/read",
            "params": {"processId": "s", "waitMs": 1000},
        }
    )
    t0 = time.monotonic()
    await c2.request("bogus", {})
    ctx.check(
        "other connection answered while a long-poll is pending",
        time.monotonic() - t0 < 0.5,
        time.monotonic() - t0,
    )
    await c.response(first)
    await ctx.rpc(c, "terminate", "process/terminate", {"processId": "s"}, ok({"running": True}))


# ====================================================================== process/write


@scenario
async def sc_write_pipe_stdin(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "start cat", "cat", ["/bin/cat"], pipeStdin=True)
    for label, chunk, wid in (
        ("first", "hello\n", "w1"),
        ("same writeId again (de-duplicated)", "hello\n", "w1"),
        ("same writeId different data (de-duplicated)", "other\n", "w1"),
        ("second", "again\n", "w2"),
        ("empty chunk", "", "w3"),
    ):
        await ctx.rpc(
            c,
            f"write {label}",
            "process/write",
            {"processId": "cat", "chunk": b64(chunk), "writeId": wid},
            ok({"status": "accepted"}),
        )
    await c.wait_for(
        lambda f: f.get("method") == "process/output" and b"again" in unb64(f["params"]["chunk"]),
        what="echo of second write",
    )
    await ctx.rpc(
        c,
        "write unknown process",
        "process/write",
        {"processId": "zz", "chunk": b64("x"), "writeId": "w"},
        ok({"status": "unknownProcess"}),
    )
    await ctx.start(c, "start without pipeStdin", "nostdin", ["/bin/sleep", "5"])
    await ctx.rpc(
        c,
        "write to process without stdin",
        "process/write",
        {"processId": "nostdin", "chunk": b64("x"), "writeId": "w"},
        ok({"status": "stdinClosed"}),
    )
    await ctx.rpc(c, "terminate nostdin", "process/terminate", {"processId": "nostdin"}, ok({"running": True}))
    await ctx.rpc(c, "terminate cat", "process/terminate", {"processId": "cat"}, ok({"running": True}))
    await ctx.run_to_close(
        c,
        "cat",
        "cat",
        {"output": {"stdout": "hello\nagain\n"}, "exitCode": 137, "terminal-events": ["exited", "closed"]},
    )
    await ctx.run_to_close(
        c, "nostdin", "nostdin", {"output": {}, "exitCode": 137, "terminal-events": ["exited", "closed"]}
    )


# ====================================================================== signal / terminate


@scenario
async def sc_signal_interrupt(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "start", "s", ["/bin/sleep", "10"])
    await ctx.rpc(c, "interrupt", "process/signal", {"processId": "s", "signal": "interrupt"}, ok({}))
    await ctx.run_to_close(c, "run", "s", {"output": {}, "exitCode": 130, "terminal-events": ["exited", "closed"]})
    await ctx.rpc(c, "interrupt exited process", "process/signal", {"processId": "s", "signal": "interrupt"}, ok({}))
    await ctx.rpc(
        c, "interrupt unknown process", "process/signal", {"processId": "nope", "signal": "interrupt"}, ok({})
    )
    await ctx.start(c, "start pty", "t", ["/bin/sleep", "10"], tty=True)
    await ctx.rpc(c, "interrupt pty", "process/signal", {"processId": "t", "signal": "interrupt"}, ok({}))
    await ctx.run_to_close(c, "run pty", "t", {"output": {}, "exitCode": 1, "terminal-events": ["exited", "closed"]})
    await ctx.start(c, "start pty 2", "t2", ["/bin/sleep", "10"], tty=True)
    await ctx.rpc(c, "terminate pty", "process/terminate", {"processId": "t2"}, ok({"running": True}))
    await ctx.run_to_close(c, "run pty 2", "t2", {"output": {}, "exitCode": 1, "terminal-events": ["exited", "closed"]})


@scenario
async def sc_exit_codes(ctx: Ctx) -> None:
    """Pipes report 128+signal for a signal death; PTY processes report 1 (codex's pty layer)."""
    c = await ctx.connect()
    for pid, script, tty, code in (
        ("pipe-exit", "exit 3", False, 3),
        ("pipe-term", "kill -TERM $$", False, 143),
        ("pty-exit", "exit 3", True, 3),
        ("pty-term", "kill -TERM $$", True, 1),
        ("pty-int", "kill -INT $$", True, 1),
    ):
        await ctx.start(c, f"start {pid}", pid, ["/bin/sh", "-c", script], tty=tty)
        await ctx.run_to_close(c, pid, pid, {"output": {}, "exitCode": code, "terminal-events": ["exited", "closed"]})


@scenario
async def sc_terminate_process_group(ctx: Ctx) -> None:
    c = await ctx.connect()
    await ctx.start(c, "start", "g", ["/bin/sh", "-c", "/bin/sleep 30 & echo $!; wait"])
    first = await c.wait_for(lambda f: f.get("method") == "process/output", what="grandchild pid")
    pid = unb64(first["params"]["chunk"]).decode().strip()
    # a killed grandchild stays a zombie until pid 1 of the sandbox reaps it, and `kill -0` succeeds on a
    # zombie: alive means a /proc entry in any state but Z (a loaded machine showed "alive" once)
    probe = ["/bin/sh", "-c", f"s=$(sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -c1); "
             f"[ -n \"$s\" ] && [ \"$s\" != Z ] && echo alive || echo gone"]

    def hide_pid(output: dict[str, str]) -> dict[str, str]:
        return {"stdout": "<pid>\n"} if output == {"stdout": f"{pid}\n"} else output

    await ctx.start(c, "probe before", "before", probe)
    await ctx.run_to_close(
        c,
        "grandchild alive before terminate",
        "before",
        {"output": {"stdout": "alive\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await ctx.rpc(c, "terminate", "process/terminate", {"processId": "g"}, ok({"running": True}))
    await ctx.run_to_close(
        c,
        "run",
        "g",
        {"output": {"stdout": "<pid>\n"}, "exitCode": 137, "terminal-events": ["exited", "closed"]},
        timeout=5,
        scrub=lambda summary: {**summary, "output": hide_pid(summary["output"])},
    )
    await ctx.start(c, "probe after", "after", probe)
    await ctx.run_to_close(
        c,
        "grandchild gone after terminate",
        "after",
        {"output": {"stdout": "gone\n"}, "exitCode": 0, "terminal-events": ["exited", "closed"]},
    )
    await ctx.rpc(c, "terminate exited", "process/terminate", {"processId": "g"}, ok({"running": False}))
    await ctx.rpc(c, "terminate unknown", "process/terminate", {"processId": "nope"}, ok({"running": False}))


# ====================================================================== sessions


@scenario
async def sc_session_resume(ctx: Ctx) -> None:
    c1 = await ctx.connect(init=False)
    first = await c1.handshake()
    sid = first["result"]["sessionId"]
    await ctx.start(
        c1,
        "start",
        "bg",
        ["/bin/sh", "-c", "echo one; read x; echo two:$x; read y; echo three:$y"],
        pipeStdin=True,
    )
    await c1.wait_for(lambda f: f.get("method") == "process/output", what="first output")
    c2 = await ctx.connect(init=False)
    await ctx.rpc(
        c2,
        "resume while attached",
        "initialize",
        {"clientName": "c2", "resumeSessionId": sid},
        err(-32010, f"session {sid} is already attached to another connection"),
    )
    await ctx.rpc(
        c2,
        "resume unknown id",
        "initialize",
        {"clientName": "c2", "resumeSessionId": "nope"},
        invalid_request("unknown session id nope"),
    )
    # write while attached, then disconnect: the process keeps running and its output is retained
    await c1.request("process/write", {"processId": "bg", "chunk": b64("A\n"), "writeId": "1"})
    await c1.wait_for(
        lambda f: f.get("method") == "process/output" and b"two" in unb64(f["params"]["chunk"]),
        what="second output",
    )
    await c1.close()
    c3 = await ctx.connect(init=False)
    await resume_when_detached(ctx, c3, "resume after disconnect", sid, "c3")
    await ctx.rpc(
        c3,
        "read before initialized",
        "process/read",
        {"processId": "bg"},
        invalid_request(NOT_INITIALIZED_YET.format("exec")),
    )
    await c3.notify("initialized")
    await ctx.rpc(
        c3,
        "read retained output",
        "process/read",
        {"processId": "bg"},
        ok(
            {
                "exited": False,
                "exitCode": None,
                "closed": False,
                "failure": None,
                "sandboxDenied": False,
                "output": {"stdout": "one\ntwo:A\n"},
            }
        ),
        shape=read_summary,
    )
    ctx.expect("no replay of old notifications on resume", c3.notifications(), [])
    await ctx.rpc(
        c3,
        "write after resume",
        "process/write",
        {"processId": "bg", "chunk": b64("B\n"), "writeId": "2"},
        ok({"status": "accepted"}),
    )
    await c3.wait_for(lambda f: f.get("method") == "process/closed", what="closed after resume")
    await c3.wait_for(lambda f: f.get("method") == "process/exited", what="exited after resume")  # may trail closed
    notes = sorted(c3.notifications(process_id="bg"), key=lambda n: n["params"]["seq"])  # wire order may vary
    # codex sometimes gives `exited` a lower seq than the last output (docs/protocol.md §4), so output and
    # exited share seqs 3 and 4 in either order; closed has the highest seq.
    ctx.expect(
        "notifications after resume continue the seq counter",
        ([n["params"]["seq"] for n in notes], sorted(n["method"] for n in notes[:2]), notes[-1]["method"]),
        ([3, 4, 5], ["process/exited", "process/output"], "process/closed"),
    )
    outputs = [n for n in notes if n["method"] == "process/output"]
    ctx.expect("new output", [unb64(n["params"]["chunk"]).decode() for n in outputs], ["three:B\n"])
    # a fresh session does not see the other session's processes
    c4 = await ctx.connect()
    await ctx.rpc(
        c4,
        "other session read",
        "process/read",
        {"processId": "bg"},
        invalid_request("unknown process id bg"),
    )
    await ctx.rpc(
        c4,
        "other session write",
        "process/write",
        {"processId": "bg", "chunk": b64("x"), "writeId": "3"},
        ok({"status": "unknownProcess"}),
    )


@scenario
async def sc_session_resume_output_while_detached(ctx: Ctx) -> None:
    c1 = await ctx.connect(init=False)
    sid = (await c1.handshake())["result"]["sessionId"]
    marker = f"detached-{time.time_ns()}"
    script = f": {marker}; sleep 0.3; echo while-detached; exit 4"  # the marker names it in /proc
    await ctx.start(c1, "start", "d", ["/bin/sh", "-c", script])
    pids: set[int] = set()

    def visible() -> bool:
        pids.update(_pids_with(marker))
        return bool(pids)

    # a just-spawned process can show an empty /proc cmdline for a few ms (its exec is still loading)
    await wait_until(visible, 5, "the process visible in /proc")
    await c1.close()
    await wait_until(lambda: _reaped(pids), 10, "the detached process ended and was reaped")
    c2 = await ctx.connect(init=False)
    await resume_when_detached(ctx, c2, "resume", sid, "c2")
    await c2.notify("initialized")
    await ctx.rpc(
        c2,
        "read after resume",
        "process/read",
        {"processId": "d"},
        ok(
            {
                "exited": True,
                "exitCode": 4,
                "closed": True,
                "failure": None,
                "sandboxDenied": False,
                "output": {"stdout": "while-detached\n"},
            }
        ),
        shape=read_summary,
    )
    await c2.request("process/read", {"processId": "d"})  # a round trip: anything queued before it has arrived
    ctx.expect("no notifications for events that happened while detached", c2.notifications(), [])


# ====================================================================== filesystem


@scenario
async def sc_filesystem(ctx: Ctx) -> None:
    c = await ctx.connect()
    u = ctx.uri
    enoent = err(-32004, "No such file or directory (os error 2)")
    steps: list[tuple[str, str, dict[str, Any], Any]] = [
        ("write", "fs/writeFile", {"path": u("a.txt"), "dataBase64": b64("hello")}, ok({})),
        ("read", "fs/readFile", {"path": u("a.txt")}, ok({"dataBase64": b64("hello")})),
        ("overwrite", "fs/writeFile", {"path": u("a.txt"), "dataBase64": b64("hello world")}, ok({})),
        ("read again", "fs/readFile", {"path": u("a.txt")}, ok({"dataBase64": b64("hello world")})),
        ("write empty", "fs/writeFile", {"path": u("empty"), "dataBase64": ""}, ok({})),
        ("read empty", "fs/readFile", {"path": u("empty")}, ok({"dataBase64": ""})),
        ("write binary", "fs/writeFile", {"path": u("bin"), "dataBase64": b64(bytes(range(256)))}, ok({})),
        ("read binary", "fs/readFile", {"path": u("bin")}, ok({"dataBase64": b64(bytes(range(256)))})),
        (
            "write into missing dir",
            "fs/writeFile",
            {"path": u("nodir/x.txt"), "dataBase64": b64("x")},
            enoent,
        ),
        ("read missing", "fs/readFile", {"path": u("missing.txt")}, enoent),
        ("read a directory", "fs/readFile", {"path": u()}, invalid_request("path `<work>` is not a file")),
        (
            "mkdir non-recursive with missing parent",
            "fs/createDirectory",
            {"path": u("sub/deeper"), "recursive": False},
            enoent,
        ),
        ("mkdir recursive", "fs/createDirectory", {"path": u("sub/deeper"), "recursive": True}, ok({})),
        (
            "mkdir recursive existing",
            "fs/createDirectory",
            {"path": u("sub/deeper"), "recursive": True},
            ok({}),
        ),
        ("mkdir default existing", "fs/createDirectory", {"path": u("sub")}, ok({})),
        ("mkdir non-recursive existing", "fs/createDirectory", {"path": u("sub"), "recursive": False}, None),
        ("metadata file", "fs/getMetadata", {"path": u("a.txt")}, None),
        ("metadata dir", "fs/getMetadata", {"path": u("sub")}, None),
        ("metadata missing", "fs/getMetadata", {"path": u("missing")}, enoent),
        ("list", "fs/readDirectory", {"path": u()}, None),
        (
            "list a file",
            "fs/readDirectory",
            {"path": u("a.txt")},
            err(-32603, "Not a directory (os error 20)"),
        ),
        ("list missing", "fs/readDirectory", {"path": u("missing")}, enoent),
        (
            "copy file",
            "fs/copy",
            {"sourcePath": u("a.txt"), "destinationPath": u("b.txt"), "recursive": False},
            ok({}),
        ),
        ("read copy", "fs/readFile", {"path": u("b.txt")}, ok({"dataBase64": b64("hello world")})),
        (
            "copy dir non-recursive",
            "fs/copy",
            {"sourcePath": u("sub"), "destinationPath": u("sub2"), "recursive": False},
            invalid_request("fs/copy requires recursive: true when sourcePath is a directory"),
        ),
        (
            "copy dir recursive",
            "fs/copy",
            {"sourcePath": u("sub"), "destinationPath": u("sub2"), "recursive": True},
            ok({}),
        ),
        (
            "list copy",
            "fs/readDirectory",
            {"path": u("sub2")},
            ok({"entries": [{"fileName": "deeper", "isDirectory": True, "isFile": False}]}),
        ),
        (
            "copy missing",
            "fs/copy",
            {"sourcePath": u("missing"), "destinationPath": u("m2"), "recursive": False},
            None,
        ),
        ("remove file", "fs/remove", {"path": u("b.txt")}, ok({})),
        ("removed file is gone", "fs/getMetadata", {"path": u("b.txt")}, enoent),
        ("remove non-empty dir, recursive omitted", "fs/remove", {"path": u("sub")}, ok({})),
        ("remove non-empty dir, recursive false", "fs/remove", {"path": u("sub2"), "recursive": False}, None),
        ("remove dir recursive", "fs/remove", {"path": u("sub2"), "recursive": True}, ok({})),
        ("remove missing (force omitted)", "fs/remove", {"path": u("missing")}, ok({})),
        ("remove missing force", "fs/remove", {"path": u("missing"), "force": True}, ok({})),
        ("remove missing no force", "fs/remove", {"path": u("missing"), "force": False}, enoent),
        ("canonicalize", "fs/canonicalize", {"path": u("a.txt")}, ok({"path": "file://<work>/a.txt"})),
        ("canonicalize missing", "fs/canonicalize", {"path": u("missing")}, enoent),
        ("list after", "fs/readDirectory", {"path": u()}, None),
    ]

    def sort_entries(o: dict[str, Any]) -> Any:
        result = o.get("result")
        if isinstance(result, dict) and "entries" in result:
            return {"result": {"entries": sorted(result["entries"], key=lambda e: e.get("fileName", ""))}}
        if isinstance(result, dict) and "modifiedAtMs" in result:
            r = dict(result)
            ctx.check(
                "metadata modifiedAtMs is a recent ms timestamp",
                isinstance(r["modifiedAtMs"], int) and r["modifiedAtMs"] > 1_600_000_000_000,
                r,
            )
            r["modifiedAtMs"] = "<ms>"
            return {"result": r}
        return o

    expected_lists = {
        "list": ok(
            {
                "entries": [
                    {"fileName": "a.txt", "isDirectory": False, "isFile": True},
                    {"fileName": "bin", "isDirectory": False, "isFile": True},
                    {"fileName": "empty", "isDirectory": False, "isFile": True},
                    {"fileName": "sub", "isDirectory": True, "isFile": False},
                ]
            }
        ),
        "list after": ok(
            {
                "entries": [
                    {"fileName": "a.txt", "isDirectory": False, "isFile": True},
                    {"fileName": "bin", "isDirectory": False, "isFile": True},
                    {"fileName": "empty", "isDirectory": False, "isFile": True},
                ]
            }
        ),
        "metadata file": ok(
            {
                "isDirectory": False,
                "isFile": True,
                "isSymlink": False,
                "size": 11,
                "createdAtMs": 0,
                "modifiedAtMs": "<ms>",
            }
        ),
        "metadata dir": ok(
            {
                "isDirectory": True,
                "isFile": False,
                "isSymlink": False,
                "size": 4096,
                "createdAtMs": 0,
                "modifiedAtMs": "<ms>",
            }
        ),
        "mkdir non-recursive existing": err(-32603, "File exists (os error 17)"),
        "copy missing": enoent,
        "remove non-empty dir, recursive false": err(-32603, "Directory not empty (os error 39)"),
    }
    for label, method, params, expected in steps:
        want = expected_lists.get(label, expected)
        await ctx.rpc(c, label, method, params, want, shape=sort_entries)


@scenario
async def sc_filesystem_handles(ctx: Ctx) -> None:
    c = await ctx.connect()
    (ctx.workdir / "f.txt").write_bytes(b"hello")
    await ctx.rpc(c, "open", "fs/open", {"handleId": "h1", "path": ctx.uri("f.txt")}, ok({"handleId": "h1"}))
    await ctx.rpc(
        c,
        "readBlock middle",
        "fs/readBlock",
        {"handleId": "h1", "offset": 1, "len": 2},
        ok({"chunk": b64("el"), "eof": False}),
    )
    await ctx.rpc(
        c,
        "readBlock to end",
        "fs/readBlock",
        {"handleId": "h1", "offset": 4, "len": 10},
        ok({"chunk": b64("o"), "eof": True}),
    )
    await ctx.rpc(
        c,
        "readBlock past end",
        "fs/readBlock",
        {"handleId": "h1", "offset": 50, "len": 10},
        ok({"chunk": "", "eof": True}),
    )
    await ctx.rpc(c, "close", "fs/close", {"handleId": "h1"}, ok({}))
    await ctx.rpc(c, "close again", "fs/close", {"handleId": "h1"}, ok({}))
    await ctx.rpc(
        c,
        "readBlock closed",
        "fs/readBlock",
        {"handleId": "h1", "offset": 0, "len": 1},
        err(-32004, "unknown file handle `h1`"),
    )
    await ctx.rpc(
        c,
        "open missing",
        "fs/open",
        {"handleId": "h2", "path": ctx.uri("missing")},
        err(-32004, "No such file or directory (os error 2)"),
    )


# ====================================================================== HTTP surface


def _http_get(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return {"status": response.status, "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode(errors="replace")}


@scenario
async def sc_http_endpoints(ctx: Ctx) -> None:
    base = ctx.server.http_url
    ctx.expect("GET /readyz", await asyncio.to_thread(_http_get, base + "/readyz"), {"status": 200, "body": ""})
    ctx.expect("GET /healthz", (await asyncio.to_thread(_http_get, base + "/healthz"))["status"], 404)
    ctx.expect("GET /nope", (await asyncio.to_thread(_http_get, base + "/nope"))["status"], 404)
    ctx.expect(
        "GET / without upgrade",
        await asyncio.to_thread(_http_get, base + "/"),
        {"status": 400, "body": "Connection header did not include 'upgrade'"},
    )


@scenario
async def sc_origin_rejected(ctx: Ctx) -> None:
    import websockets

    for origin in ("http://evil.example", "http://127.0.0.1"):
        try:
            c = await RawClient.connect(ctx.server.url, origin=origin)
        except websockets.InvalidStatus as exc:
            ctx.expect(f"Origin {origin}", exc.response.status_code, 403)
        else:
            ctx.clients.append(c)
            ctx.expect(f"Origin {origin}", "accepted", 403)
    c = await ctx.connect()
    ctx.expect("no Origin accepted", await still_open(c), True)


TOKEN = "conformance-token-1234"


@scenario
async def sc_bearer_auth(ctx: Ctx) -> None:
    """``--ws-auth capability-token --ws-token-file``: Bearer token checked on the upgrade."""
    import websockets

    def write_token(scratch: Path) -> None:
        (scratch / "token").write_text(TOKEN + "\n")

    assert ctx.other_server is not None
    server = ctx.other_server(
        "--ws-auth", "capability-token", "--ws-token-file", "{scratch}/token", prepare=write_token
    )
    for label, headers in (
        ("no Authorization", None),
        ("wrong token", {"Authorization": "Bearer wrong"}),
        ("token without scheme", {"Authorization": TOKEN}),
        ("Basic scheme", {"Authorization": "Basic " + TOKEN}),
        ("right token", {"Authorization": "Bearer " + TOKEN}),
        ("lower-case bearer", {"Authorization": "bearer " + TOKEN}),
    ):
        try:
            client = await RawClient.connect(server.url, headers=headers)
        except websockets.InvalidStatus as exc:
            body = bytes(exc.response.body or b"").decode(errors="replace")
            ctx.expect(
                f"upgrade with {label}",
                {"status": exc.response.status_code, "body": body},
                AUTH_EXPECTED[label],
            )
            continue
        ctx.clients.append(client)
        frame = await client.request("initialize", {"clientName": "auth"})
        ctx.expect(
            f"upgrade with {label}",
            {"status": 101, "initialize": sorted(frame.get("result", frame))},
            AUTH_EXPECTED[label],
        )
    ctx.expect(
        "readyz needs no token",
        await asyncio.to_thread(_http_get, server.http_url + "/readyz"),
        {"status": 200, "body": ""},
    )


AUTH_EXPECTED: dict[str, Any] = {
    "no Authorization": {"status": 401, "body": "missing websocket bearer token"},
    "wrong token": {"status": 401, "body": "invalid websocket bearer token"},
    "token without scheme": {"status": 401, "body": "invalid authorization header"},
    "Basic scheme": {"status": 401, "body": "invalid authorization header"},
    "right token": {"status": 101, "initialize": ["environmentInfo", "sessionId"]},
    "lower-case bearer": {"status": 101, "initialize": ["environmentInfo", "sessionId"]},
}
