"""Integration tests of every method and rule of the reference server (real confined server, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from pytest_execserver.checks.journal import Journal
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until

from .procutil import pids_with
from .refclient import Client, b64, start_params, uri

# ---------------------------------------------------------------------- transport


def test_readyz_and_http(ref_server: ServerProcess) -> None:
    with urllib.request.urlopen(ref_server.http_url + "/readyz", timeout=5) as response:
        assert response.status == 200
        assert response.read() == b""
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(ref_server.http_url + "/nope", timeout=5)
    assert info.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(ref_server.http_url + "/", timeout=5)
    assert info.value.code == 400


async def test_origin_is_forbidden(ref_server: ServerProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(ref_server.url, origin=websockets.Origin("http://evil.example"))
    assert info.value.response.status_code == 403


async def test_server_frames_have_no_jsonrpc_member(client: Client) -> None:
    await client.request("bogus")
    assert all("jsonrpc" not in frame for frame in client.frames)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "expected ident at line 1 column 2"),
        ("", "EOF while parsing a value at line 1 column 0"),
        ("[]", "expected a JSON-RPC object"),
        ('"s"', "expected a JSON-RPC object"),
        ('{"id":1}', "missing field `error`"),
        ('{"id":null,"method":"x"}', "data did not match any variant of untagged enum RequestId"),
        ('{"id":1.5,"method":"x"}', "data did not match any variant of untagged enum RequestId"),
        ('{"id":1,"method":5}', "invalid type: number, expected a string"),
        ('{"id":1,"method":"x","trace":5}', "invalid type: number, expected struct W3cTraceContext"),
        ('{"id":1,"method":"x"} x', "trailing characters at line 1 column 23"),
        ('{"id":1,"method":"x","params":' + "[" * 200 + "]" * 200 + "}", "recursion limit exceeded"),
    ],
)
async def test_unparsable_frames_get_id_minus_one(client: Client, raw: str, reason: str) -> None:
    before = len(client.frames)
    await client.send(raw)
    frame = await client.wait_for(lambda f: f in client.frames[before:] and f.get("id") == -1)
    assert frame["error"]["code"] == -32600
    assert frame["error"]["message"].startswith("failed to parse websocket JSON-RPC message from exec-server")
    assert reason in frame["error"]["message"]
    assert await client.call("environment/info") is not None  # still usable


async def test_binary_frames_and_optional_jsonrpc(client: Client) -> None:
    await client.send(b'{"id":"b1","method":"environment/info"}')
    frame = await client.wait_for(lambda f: f.get("id") == "b1")
    assert "result" in frame


async def test_unknown_method(client: Client) -> None:
    assert await client.error("no/such") == (-32601, "exec-server stub does not implement `no/such` yet")


@pytest.mark.parametrize("frame", ['{"id":5,"result":{}}', '{"id":5,"error":{"code":1,"message":"x"}}'])
async def test_client_responses_drop_connection(ref_server: ServerProcess, frame: str) -> None:
    c = await Client.connect(ref_server.url)
    await c.init()
    await c.send(frame)
    await asyncio.wait_for(c.closed.wait(), 5)


async def test_unknown_notification_drops_connection(ref_server: ServerProcess) -> None:
    c = await Client.connect(ref_server.url)
    await c.init()
    await c.notify("bogus/notification")
    await asyncio.wait_for(c.closed.wait(), 5)


async def test_trace_field_is_accepted(client: Client, work: Path) -> None:
    trace = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=b"}
    result = await client.call("process/start", start_params("t", ["/bin/true"], work), trace=trace)
    assert result == {"processId": "t", "sandboxType": "none"}
    assert "result" in await client.request("environment/info", trace={"traceparent": "garbage"})
    assert "result" in await client.request("environment/info", trace=None)


# ---------------------------------------------------------------------- initialize rules


async def test_initialize_rules(ref_server: ServerProcess, work: Path) -> None:
    c = await Client.connect(ref_server.url)
    try:
        assert await c.error("environment/info") == (
            -32600,
            "client must call initialize before using environment info methods",
        )
        assert await c.error("fs/readFile", {"path": uri(work / "x")}) == (
            -32600,
            "client must call initialize before using filesystem methods",
        )
        # params are decoded before the initialize checks
        assert await c.error("process/start", {"processId": "x"}) == (-32602, "missing field `argv`")
        assert await c.error("initialize", {}) == (-32602, "missing field `clientName`")
        assert await c.error("initialize") == (-32602, "invalid type: null, expected struct InitializeParams")
        assert await c.error("initialize", []) == (
            -32602,
            "invalid length 0, expected struct InitializeParams with 2 elements",
        )
        result = await c.call("initialize", {"clientName": "t"})
        assert set(result) == {"sessionId", "environmentInfo"}
        assert await c.error("process/read", {"processId": "x"}) == (
            -32600,
            "client must send initialized before using exec methods",
        )
        assert await c.error("initialize", {"clientName": "t"}) == (
            -32600,
            "initialize may only be sent once per connection",
        )
        await c.notify("initialized")
        await c.notify("initialized")  # repeated: harmless
        assert (await c.call("environment/info"))["platformOs"] == "linux"
    finally:
        await c.close()


async def test_initialized_before_initialize_drops_connection(ref_server: ServerProcess) -> None:
    c = await Client.connect(ref_server.url)
    await c.notify("initialized")
    await asyncio.wait_for(c.closed.wait(), 5)


async def test_environment_info(client: Client) -> None:
    info = await client.call("environment/info")
    assert set(info) >= {"shell", "cwd", "userHomeDir", "platformOs", "tempDir", "capabilities"}
    assert info["cwd"].startswith("file:///")
    assert await client.error("environment/info", {"x": 1}) == (-32602, "invalid type: map, expected unit")
    assert await client.call("environment/info", {}) == info


# ---------------------------------------------------------------------- process/start + notifications


async def test_start_output_exited_closed(client: Client, work: Path) -> None:
    argv = ["/bin/sh", "-c", "printf out; printf err >&2; exit 3"]
    assert await client.call("process/start", start_params("p", argv, work)) == {
        "processId": "p",
        "sandboxType": "none",
    }
    await client.wait_closed_notification("p")
    events = [f for f in client.frames if "method" in f and f["params"]["processId"] == "p"]
    seqs = [f["params"]["seq"] for f in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[-1]["method"] == "process/closed"
    exited = [f["params"] for f in events if f["method"] == "process/exited"]
    assert exited == [{"processId": "p", "seq": seqs[-2], "exitCode": 3, "sandboxDenied": False}]
    streams = {n["stream"]: base64.b64decode(n["chunk"]) for n in client.notifications("process/output", "p")}
    assert streams == {"stdout": b"out", "stderr": b"err"}
    read = await client.call("process/read", {"processId": "p"})
    assert read["exited"] and read["closed"] and read["exitCode"] == 3
    assert read["nextSeq"] == seqs[-1] + 1
    assert read["failure"] is None and read["sandboxDenied"] is False


async def test_start_errors(client: Client, work: Path) -> None:
    await client.call("process/start", start_params("dup", ["/bin/true"], work))
    assert await client.error("process/start", start_params("dup", ["/bin/true"], work)) == (
        -32600,
        "process dup already exists",
    )
    assert await client.error("process/start", start_params("e", [], work)) == (
        -32602,
        "argv must not be empty",
    )
    assert await client.error("process/start", start_params("n", [str(work / "missing")], work)) == (
        -32603,
        "No such file or directory (os error 2)",
    )
    assert await client.error("process/start", start_params("c", ["/bin/true"], work / "nodir")) == (
        -32603,
        "No such file or directory (os error 2)",
    )
    assert await client.error("process/start", start_params("z", ["/bin/true\x00x"], work)) == (
        -32603,
        "nul byte found in provided data",
    )
    bad_cwd = {**start_params("u", ["/bin/true"], work), "cwd": str(work)}
    assert await client.error("process/start", bad_cwd) == (-32602, "invalid URI: relative URL without a base")
    no_tty = start_params("t", ["/bin/true"], work)
    del no_tty["tty"]
    assert await client.error("process/start", no_tty) == (-32602, "missing field `tty`")
    assert await client.error("process/start", {**no_tty, "tty": "x"}) == (
        -32602,
        'invalid type: string "x", expected a boolean',
    )


async def test_env_cwd_arg0_and_path_lookup(client: Client, work: Path) -> None:
    params = start_params("a", ["/bin/sh", "-c", 'echo "$0 $FOO $HOME"; pwd'], work, arg0="myname")
    params["env"] = {"FOO": "bar"}
    await client.call("process/start", params)
    await client.wait_closed_notification("a")
    assert client.output("a") == f"myname bar \n{work}\n".encode()  # HOME unset: env is complete
    await client.call("process/start", {**start_params("b", ["true"], work), "env": {}})
    closed = await client.wait_closed_notification("b")
    assert closed["params"]["seq"] == 2
    assert [n["exitCode"] for n in client.notifications("process/exited", "b")] == [0]


async def test_tty(client: Client, work: Path) -> None:
    argv = ["/bin/sh", "-c", "test -t 0 && echo tty; echo err >&2; read x; echo got $x"]
    await client.call("process/start", start_params("t", argv, work, tty=True))
    assert await client.call("process/write", {"processId": "t", "chunk": b64("abc\n"), "writeId": "1"}) == {
        "status": "accepted"
    }
    await client.wait_closed_notification("t")
    out = client.output("t")
    assert b"tty\r\n" in out and b"err\r\n" in out and b"got abc\r\n" in out
    assert {n["stream"] for n in client.notifications("process/output", "t")} == {"pty"}


# ---------------------------------------------------------------------- process/read


async def test_read_semantics(client: Client, work: Path) -> None:
    argv = ["/bin/sh", "-c", "printf a; sleep 0.05; printf bb; sleep 0.05; printf ccc"]
    await client.call("process/start", start_params("r", argv, work))
    await client.wait_closed_notification("r")
    full = await client.call("process/read", {"processId": "r"})
    data = b"".join(base64.b64decode(c["chunk"]) for c in full["chunks"])
    assert data == b"abbccc"
    seqs = [c["seq"] for c in full["chunks"]]
    assert full["nextSeq"] == seqs[-1] + 3  # exited and closed consumed seqs
    # maxBytes: the first chunk is always returned whole, later ones must fit
    one = await client.call("process/read", {"processId": "r", "maxBytes": 0})
    assert [c["seq"] for c in one["chunks"]] == seqs[:1] and one["nextSeq"] == seqs[0] + 1
    # with maxBytes nextSeq is always the last returned seq + 1 (codex), even when nothing was cut off
    after = await client.call("process/read", {"processId": "r", "afterSeq": seqs[0], "maxBytes": 100})
    assert [c["seq"] for c in after["chunks"]] == seqs[1:] and after["nextSeq"] == seqs[-1] + 1
    # ... and the next unused seq when no chunk is returned
    none = await client.call("process/read", {"processId": "r", "afterSeq": seqs[-1], "maxBytes": 100})
    assert none["chunks"] == [] and none["nextSeq"] == full["nextSeq"]
    beyond = await client.call("process/read", {"processId": "r", "afterSeq": 1000, "waitMs": 2000})
    assert beyond["chunks"] == [] and beyond["closed"]  # closed: returns at once
    assert await client.error("process/read", {"processId": "nope"}) == (-32600, "unknown process id nope")
    assert await client.error("process/read", {"processId": "r", "afterSeq": -1}) == (-32602, "invalid number")
    assert await client.error("process/read", {"processId": "r", "afterSeq": "1"}) == (
        -32602,
        'invalid type: string "1", expected u64',
    )
    assert await client.error("process/read", {"processId": "r", "maxBytes": True}) == (
        -32602,
        "invalid type: boolean `true`, expected usize",
    )


async def test_long_poll_wakes_when_the_process_ends_right_after_the_read_arrives(client: Client, work: Path) -> None:
    """Regression: the read's waiter used to be registered one loop turn late, so an exit landing in that
    turn was missed and the long-poll slept its whole ``waitMs`` (legacy-read p95 of 253 ms vs p50 of 2 ms).
    ``/bin/true`` exits within about a millisecond of its start, which is when the read arrives."""
    slow = []
    for i in range(150):
        pid = f"race-{i}"
        await client.call("process/start", start_params(pid, ["/bin/true"], work))
        started = time.monotonic()
        after = 0
        while True:
            result = await client.call("process/read", {"processId": pid, "afterSeq": after, "waitMs": 3000})
            if result["closed"]:
                break
            after = result["nextSeq"] - 1
        if time.monotonic() - started > 1.5:
            slow.append(pid)
    assert not slow, f"long-poll reads slept through the process's exit/close for {slow}"


async def test_read_long_poll(client: Client, work: Path) -> None:
    await client.call("process/start", start_params("lp", ["/bin/sh", "-c", "sleep 0.3; echo late"], work))
    started = time.monotonic()
    first = await client.call("process/read", {"processId": "lp", "waitMs": 5000})
    elapsed = time.monotonic() - started
    assert 0.2 < elapsed < 3
    assert first["chunks"] or first["exited"]
    await client.call("process/start", start_params("idle", ["/bin/sleep", "30"], work))
    started = time.monotonic()
    idle = await client.call("process/read", {"processId": "idle", "waitMs": 200})
    assert 0.15 < time.monotonic() - started < 2
    assert idle == {
        "chunks": [],
        "nextSeq": 1,
        "exited": False,
        "exitCode": None,
        "closed": False,
        "failure": None,
        "sandboxDenied": False,
    }
    assert await client.call("process/terminate", {"processId": "idle"}) == {"running": True}


async def test_requests_are_serialized_by_default(client: Client, work: Path) -> None:
    await client.call("process/start", start_params("s", ["/bin/sleep", "30"], work))
    await client.send({"id": "slow", "method": "process/read", "params": {"processId": "s", "waitMs": 300}})
    await client.send({"id": "fast", "method": "environment/info"})
    await client.wait_for(lambda f: f.get("id") == "fast")
    ids = [f.get("id") for f in client.frames if f.get("id") in ("slow", "fast")]
    assert ids == ["slow", "fast"]
    await client.call("process/terminate", {"processId": "s"})


async def test_concurrent_requests_flag(launch_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--concurrent-requests", "4")
    c = await Client.connect(server.url)
    try:
        await c.init()
        await c.call("process/start", start_params("s", ["/bin/sleep", "30"], server.scratch))
        await c.send({"id": "slow", "method": "process/read", "params": {"processId": "s", "waitMs": 500}})
        await c.send({"id": "fast", "method": "environment/info"})
        await c.wait_for(lambda f: f.get("id") == "slow")
        ids = [f.get("id") for f in c.frames if f.get("id") in ("slow", "fast")]
        assert ids == ["fast", "slow"]
    finally:
        await c.close()


# ---------------------------------------------------------------------- write / signal / terminate


async def test_write(client: Client, work: Path) -> None:
    await client.call("process/start", start_params("cat", ["/bin/cat"], work, pipeStdin=True))
    w = {"processId": "cat", "chunk": b64("one\n"), "writeId": "w1"}
    assert await client.call("process/write", w) == {"status": "accepted"}
    assert await client.call("process/write", w) == {"status": "accepted"}  # de-duplicated
    assert await client.call("process/write", {**w, "chunk": b64("two\n"), "writeId": "w2"}) == {"status": "accepted"}
    await client.wait_for(lambda f: b"two" in client.output("cat"))
    assert client.output("cat") == b"one\ntwo\n"
    assert await client.call("process/write", {**w, "processId": "nope"}) == {"status": "unknownProcess"}
    assert await client.error("process/write", {**w, "chunk": "!!"}) == (-32602, "Invalid symbol 33, offset 0.")
    assert await client.error("process/write", {"processId": "cat", "chunk": ""}) == (
        -32602,
        "missing field `writeId`",
    )
    await client.call("process/start", start_params("nostdin", ["/bin/cat"], work))
    assert await client.call("process/write", {**w, "processId": "nostdin"}) == {"status": "stdinClosed"}
    await client.wait_closed_notification("nostdin")  # stdin is /dev/null: cat ends at once
    await client.call("process/terminate", {"processId": "cat"})


async def test_signal_interrupt(client: Client, work: Path) -> None:
    await client.call("process/start", start_params("i", ["/bin/sleep", "30"], work))
    assert await client.call("process/signal", {"processId": "i", "signal": "interrupt"}) == {}
    await client.wait_closed_notification("i")
    assert client.notifications("process/exited", "i")[0]["exitCode"] == 130
    assert await client.call("process/signal", {"processId": "nope", "signal": "interrupt"}) == {}
    assert await client.error("process/signal", {"processId": "i", "signal": "kill"}) == (
        -32602,
        "unknown variant `kill`, expected `interrupt`",
    )


async def test_tty_killed_by_signal_exits_1(client: Client, work: Path) -> None:
    """codex reports exitCode 1 for a PTY process killed by any signal (pipes: 128 + signal)."""
    for pid, script in (("t-exit", "exit 3"), ("t-term", "kill -TERM $$"), ("t-int", "kill -INT $$")):
        await client.call("process/start", {**start_params(pid, ["/bin/sh", "-c", script], work), "tty": True})
    await client.call("process/start", {**start_params("t-sig", ["/bin/sleep", "30"], work), "tty": True})
    await client.call("process/start", {**start_params("t-kill", ["/bin/sleep", "30"], work), "tty": True})
    assert await client.call("process/signal", {"processId": "t-sig", "signal": "interrupt"}) == {}
    assert await client.call("process/terminate", {"processId": "t-kill"}) == {"running": True}
    codes = {}
    for pid in ("t-exit", "t-term", "t-int", "t-sig", "t-kill"):
        await client.wait_closed_notification(pid)
        codes[pid] = client.notifications("process/exited", pid)[0]["exitCode"]
    assert codes == {"t-exit": 3, "t-term": 1, "t-int": 1, "t-sig": 1, "t-kill": 1}


async def test_terminate_kills_process_group(client: Client, work: Path) -> None:
    marker = f"{time.time_ns() % 10**6}.{len(str(work))}"
    argv = ["/bin/sh", "-c", f"/bin/sleep 9{marker} & /bin/sleep 8{marker}; echo never"]
    await client.call("process/start", start_params("g", argv, work))
    await wait_until(lambda: pids_with(f"9{marker}") and pids_with(f"8{marker}"), 5, "both sleeps run")
    assert await client.call("process/terminate", {"processId": "g"}) == {"running": True}
    await client.wait_closed_notification("g")  # closes: the background sleep died too
    assert client.notifications("process/exited", "g")[0]["exitCode"] == 137
    assert client.output("g") == b""
    assert await client.call("process/terminate", {"processId": "g"}) == {"running": False}
    assert await client.call("process/terminate", {"processId": "nope"}) == {"running": False}


# ---------------------------------------------------------------------- retention


async def test_retention_evicts_oldest(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--retained-bytes", "100000")
    c = await Client.connect(server.url)
    try:
        await c.init()
        argv = ["/bin/sh", "-c", "head -c 1000000 /dev/zero; echo tail"]
        await c.call("process/start", start_params("big", argv, server.scratch))
        await c.wait_closed_notification("big", timeout=15)
        assert len(c.output("big")) == 1_000_005  # notifications carry everything
        read = await c.call("process/read", {"processId": "big"})
        retained = b"".join(base64.b64decode(x["chunk"]) for x in read["chunks"])
        assert 0 < len(retained) <= 100_000 and retained.endswith(b"tail\n")
        assert read["chunks"][0]["seq"] > 1  # the gap is visible as a seq jump
    finally:
        await c.close()


async def test_retention_after_close(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--retention-after-close-ms", "100")
    c = await Client.connect(server.url)
    try:
        await c.init()
        await c.call("process/start", start_params("x", ["/bin/true"], server.scratch))
        await c.wait_closed_notification("x")

        async def forgotten() -> bool:
            return "error" in await c.request("process/read", {"processId": "x"})

        await wait_until(forgotten, 5, "closed process forgotten")
        assert await c.error("process/read", {"processId": "x"}) == (-32600, "unknown process id x")
        await c.call("process/start", start_params("x", ["/bin/true"], server.scratch))  # id reusable
    finally:
        await c.close()


# ---------------------------------------------------------------------- sessions


async def test_session_detach_and_resume(ref_server: ServerProcess, work: Path) -> None:
    first = await Client.connect(ref_server.url)
    sid = await first.init()
    argv = ["/bin/sh", "-c", "sleep 0.4; echo while-detached"]
    await first.call("process/start", start_params("d", argv, work))
    await first.close()
    await wait_until(lambda: _closed_in_journal(ref_server, "d", sid), 10, "the process ended while detached")
    second = await Client.connect(ref_server.url)
    third = await Client.connect(ref_server.url)
    try:
        result = await second.call("initialize", {"clientName": "t", "resumeSessionId": sid})
        assert result["sessionId"] == sid
        await second.notify("initialized")
        read = await second.call("process/read", {"processId": "d"})
        assert read["closed"] and b"while-detached" in base64.b64decode(read["chunks"][0]["chunk"])
        assert second.notifications("process/output") == []  # detached notifications were dropped
        assert await third.error("initialize", {"clientName": "t", "resumeSessionId": sid}) == (
            -32010,
            f"session {sid} is already attached to another connection",
        )
        assert await third.error("initialize", {"clientName": "t", "resumeSessionId": "nope"}) == (
            -32600,
            "unknown session id nope",
        )
        # a failed resume does not use up initialize
        assert "sessionId" in await third.call("initialize", {"clientName": "t"})
        # notifications flow to the resumed connection
        await second.call("process/start", start_params("e", ["/bin/echo", "hi"], work))
        await second.wait_closed_notification("e")
        assert second.output("e") == b"hi\n"
    finally:
        await second.close()
        await third.close()


# ---------------------------------------------------------------------- filesystem


async def test_fs_methods(client: Client, work: Path) -> None:
    f = uri(work / "a.txt")
    assert await client.call("fs/writeFile", {"path": f, "dataBase64": b64("hello")}) == {}
    assert (work / "a.txt").read_bytes() == b"hello"
    assert await client.call("fs/readFile", {"path": f}) == {"dataBase64": b64("hello")}
    assert await client.error("fs/readFile", {"path": uri(work / "missing")}) == (
        -32004,
        "No such file or directory (os error 2)",
    )
    assert await client.error("fs/readFile", {"path": uri(work)}) == (-32600, f"path `{work}` is not a file")
    assert await client.error("fs/writeFile", {"path": uri(work / "x/y"), "dataBase64": ""}) == (
        -32004,
        "No such file or directory (os error 2)",
    )
    assert await client.error("fs/writeFile", {"path": f, "dataBase64": "%%"}) == (
        -32600,
        "fs/writeFile requires valid base64 dataBase64: Invalid symbol 37, offset 0.",
    )
    assert await client.call("fs/createDirectory", {"path": uri(work / "d1/d2")}) == {}
    assert await client.error("fs/createDirectory", {"path": uri(work / "d1"), "recursive": False}) == (
        -32603,
        "File exists (os error 17)",
    )
    meta = await client.call("fs/getMetadata", {"path": f})
    assert meta["isFile"] and not meta["isDirectory"] and not meta["isSymlink"] and meta["size"] == 5
    assert (await client.call("fs/getMetadata", {"path": uri(work / "d1")}))["isDirectory"]
    assert await client.call("fs/canonicalize", {"path": uri(work / "d1/../a.txt")}) == {"path": f}
    entries = (await client.call("fs/readDirectory", {"path": uri(work)}))["entries"]
    assert sorted(entries, key=lambda e: e["fileName"]) == [
        {"fileName": "a.txt", "isDirectory": False, "isFile": True},
        {"fileName": "d1", "isDirectory": True, "isFile": False},
    ]
    assert await client.error("fs/readDirectory", {"path": f}) == (-32603, "Not a directory (os error 20)")
    assert (
        await client.call("fs/copy", {"sourcePath": f, "destinationPath": uri(work / "c.txt"), "recursive": False})
        == {}
    )
    assert (work / "c.txt").read_bytes() == b"hello"
    assert await client.error(
        "fs/copy", {"sourcePath": uri(work / "d1"), "destinationPath": uri(work / "d9"), "recursive": False}
    ) == (-32600, "fs/copy requires recursive: true when sourcePath is a directory")
    await client.call(
        "fs/copy", {"sourcePath": uri(work / "d1"), "destinationPath": uri(work / "d9"), "recursive": True}
    )
    assert (work / "d9/d2").is_dir()
    assert await client.error("fs/remove", {"path": uri(work / "d1"), "recursive": False}) == (
        -32603,
        "Directory not empty (os error 39)",
    )
    assert await client.call("fs/remove", {"path": uri(work / "d9")}) == {}
    assert await client.call("fs/remove", {"path": uri(work / "d9")}) == {}  # force defaults to true
    assert await client.error("fs/remove", {"path": uri(work / "d9"), "force": False}) == (
        -32004,
        "No such file or directory (os error 2)",
    )
    assert await client.call("fs/open", {"handleId": "h", "path": f}) == {"handleId": "h"}
    assert await client.call("fs/readBlock", {"handleId": "h", "offset": 1, "len": 3}) == {
        "chunk": b64("ell"),
        "eof": False,
    }
    assert await client.call("fs/readBlock", {"handleId": "h", "offset": 4, "len": 10}) == {
        "chunk": b64("o"),
        "eof": True,
    }
    assert await client.call("fs/close", {"handleId": "h"}) == {}
    assert await client.error("fs/readBlock", {"handleId": "h", "offset": 0, "len": 1}) == (
        -32004,
        "unknown file handle `h`",
    )
    # like codex, closing a closed or never-opened handle is not an error
    assert await client.call("fs/close", {"handleId": "h"}) == {}
    assert await client.call("fs/close", {"handleId": "never"}) == {}


async def test_fs_uri_errors(client: Client, work: Path) -> None:
    assert await client.error("fs/readFile", {"path": "http://x/a"}) == (-32602, "unsupported path URI scheme `http`")
    assert await client.error("fs/readFile", {"path": "file://relative/a"}) == (
        -32600,
        "'file://relative/a' is invalid on 'linux'",
    )
    assert await client.error("fs/readFile", {"path": str(work)}) == (
        -32602,
        "invalid URI: relative URL without a base",
    )
    assert await client.error("fs/readFile", {}) == (-32602, "missing field `path`")
    assert await client.error("fs/readFile", {"path": uri(work / "a"), "sandbox": 5}) == (
        -32602,
        "invalid type: number, expected struct WireFileSystemSandboxContext",
    )


# ---------------------------------------------------------------------- auth


async def test_capability_token_auth(launch_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    for flag in ("--ws-token-file", "--ws-token-sha256"):
        name = f"auth{flag[-4:]}"
        token_file = tmp_path / name / "token"
        token_file.parent.mkdir()
        token_file.write_text("sekrit\n")
        value = str(token_file) if flag == "--ws-token-file" else hashlib.sha256(b"sekrit").hexdigest()
        server = launch_server("ref", "--ws-auth", "capability-token", flag, value, name=name)  # token in scratch
        for headers, body in (
            (None, b"missing websocket bearer token"),
            ({"Authorization": "Bearer wrong"}, b"invalid websocket bearer token"),
            ({"Authorization": "Basic sekrit"}, b"invalid authorization header"),
        ):
            with pytest.raises(websockets.InvalidStatus) as info:
                await websockets.connect(server.url, additional_headers=headers or {})
            assert info.value.response.status_code == 401
            assert info.value.response.body == body
        c = await Client.connect(server.url, additional_headers={"Authorization": "bearer sekrit"})
        await c.init()
        await c.close()
        with urllib.request.urlopen(server.http_url + "/readyz", timeout=5) as response:
            assert response.status == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ws-auth", "capability-token"], "is required when `--ws-auth capability-token` is set"),
        (["--ws-token-sha256", "0" * 64], "websocket auth flags require `--ws-auth capability-token`"),
        (["--ws-auth", "capability-token", "--ws-token-sha256", "zz"], "must be a 64-character hex"),
    ],
)
def test_auth_flag_errors(launch_server, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    from pytest_execserver.servers.launch import ServerStartError

    with pytest.raises(ServerStartError, match="exited") as info:
        launch_server("ref", *args)
    assert message in str(info.value)


def _closed_in_journal(server: ServerProcess, pid: str, session: str) -> bool:
    assert server.journal_path is not None
    processes = Journal.load(server.journal_path).processes()
    return any(p.closed for p in processes if p.process_id == pid and p.session == session)
