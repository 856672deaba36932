"""Processes against real servers (ref and codex): run, stream, stdin, PTY, signals, errors, modes."""

from __future__ import annotations

import asyncio

import pytest

from pytest_execserver.client import ExecServerError, OutputChunk
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until
from tests.plugin.client.client_testkit import MakeClient

MODES = ["event-stream", "legacy-read"]
SCRIPT = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done; printf tail; exit 7"


@pytest.mark.parametrize("mode", MODES)
async def test_run_collects_output_and_exit_code(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    result = await client.run(["/bin/sh", "-c", SCRIPT], timeout=10)
    assert result.exit_code == 7
    assert result.stdout == b"out1\nout2\nout3\ntail"
    assert result.stderr == b"err1\nerr2\nerr3\n"
    assert result.sandbox_denied is False
    seqs = [c.seq for c in result.chunks]
    assert seqs == sorted(set(seqs))
    assert result.process_id.startswith(client.client_id)


async def test_both_modes_produce_identical_bytes(make_client: MakeClient) -> None:
    script = "i=0; while [ $i -lt 200 ]; do echo line-$i-$(printf %0100d $i); i=$((i+1)); done; echo e >&2"
    stream = await make_client(mode="event-stream")
    legacy = await make_client(mode="legacy-read")
    a, b = await asyncio.gather(
        stream.run(["/bin/sh", "-c", script], timeout=15), legacy.run(["/bin/sh", "-c", script], timeout=15)
    )
    assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr)
    assert a.stdout.count(b"\n") == 200


@pytest.mark.parametrize("mode", MODES)
async def test_start_streams_chunks_in_order(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    handle = await client.start(["/bin/sh", "-c", "for i in 1 2 3 4; do echo tick$i; sleep 0.1; done"])
    got: list[OutputChunk] = []
    async for chunk in handle:
        got.append(chunk)
        assert chunk.stream == "stdout"
    result = await handle.wait(5)
    assert b"".join(c.data for c in got) == b"tick1\ntick2\ntick3\ntick4\n" == result.stdout
    assert len(got) >= 2  # really streamed, not one final blob
    assert result.exit_code == 0


@pytest.mark.parametrize("mode", MODES)
async def test_write_to_stdin(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    handle = await client.start(["/bin/sh", "-c", "head -c 10; echo; echo done"], pipe_stdin=True)
    assert await handle.write(b"hello") == "accepted"
    assert await handle.write(b"world", close_stdin=True) == "accepted"
    result = await handle.wait(5)
    assert result.stdout == b"helloworld\ndone\n"


async def test_run_with_stdin(make_client: MakeClient) -> None:
    client = await make_client()
    result = await client.run(["/usr/bin/head", "-c", "6"], stdin=b"abcdef", timeout=5)
    assert result.stdout == b"abcdef" and result.exit_code == 0


async def test_write_without_pipe_stdin_reports_stdin_closed(make_client: MakeClient) -> None:
    client = await make_client()
    handle = await client.start(["/bin/sleep", "5"])
    assert await handle.write(b"x") == "stdinClosed"
    assert await handle.terminate() is True


@pytest.mark.parametrize("mode", MODES)
async def test_pty_output_lands_in_stdout(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    result = await client.run(["/bin/sh", "-c", "test -t 1 && echo is-a-tty"], tty=True, timeout=5)
    assert result.exit_code == 0
    assert result.stdout == b"is-a-tty\r\n"
    assert result.stderr == b""
    assert {c.stream for c in result.chunks} == {"pty"}


async def test_pty_is_writable(make_client: MakeClient) -> None:
    client = await make_client()
    handle = await client.start(["/bin/sh", "-c", "read line; echo got:$line"], tty=True)
    await handle.write(b"abc\n")
    result = await handle.wait(5)
    assert b"got:abc" in result.stdout


@pytest.mark.parametrize("mode", MODES)
async def test_signal_interrupts(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    handle = await client.start(["/bin/sh", "-c", "echo ready; exec /bin/sleep 30"])
    await wait_until(lambda: handle.chunks, 5, "the process runs")
    await handle.signal("interrupt")
    result = await handle.wait(5)
    assert result.exit_code == 130


@pytest.mark.parametrize("mode", MODES)
async def test_terminate_kills(make_client: MakeClient, mode: str) -> None:
    client = await make_client(mode=mode)
    handle = await client.start(["/bin/sleep", "30"])
    assert await handle.terminate() is True
    result = await handle.wait(5)
    assert result.exit_code == 137
    assert await handle.terminate() is False


async def test_env_is_the_complete_environment(make_client: MakeClient) -> None:
    client = await make_client()
    result = await client.run(["/bin/sh", "-c", "echo $FOO-$HOME"], env={"FOO": "bar"}, timeout=5)
    assert result.stdout == b"bar-\n"


async def test_cwd_inside_scratch(make_client: MakeClient, server: ServerProcess) -> None:
    sub = server.scratch / "sub"
    sub.mkdir()
    client = await make_client()
    result = await client.run(["/bin/pwd"], cwd=sub, timeout=5)
    assert result.stdout.decode().strip() == str(sub.resolve())
    with pytest.raises(ValueError):
        await client.run(["/bin/pwd"], cwd="/")
    with pytest.raises(ValueError):
        await client.run(["/bin/pwd"], cwd=server.scratch / ".." / "x")


async def test_rpc_errors_are_typed(make_client: MakeClient) -> None:
    client = await make_client()
    with pytest.raises(ExecServerError) as info:
        await client.call("no/such/method", {})
    assert info.value.code == -32601
    with pytest.raises(ExecServerError) as info:
        await client.call("process/read", {"processId": "nope"})
    assert info.value.code == -32600
    first = await client.run(["/bin/true"], timeout=5)
    with pytest.raises(ExecServerError) as info:
        await client.start(["/bin/true"], process_id=first.process_id)
    assert info.value.code == -32600
    assert (await client.call("process/terminate", {"processId": "nope"})) == {"running": False}


async def test_run_timeout_terminates(make_client: MakeClient) -> None:
    client = await make_client()
    with pytest.raises(TimeoutError):
        await client.run(["/bin/sleep", "30"], timeout=0.3)


async def test_async_with_connect(server: ServerProcess) -> None:
    from pytest_execserver.client import connect

    async with connect(server.url) as client:
        assert client.session_id
        result = await client.run(["/bin/echo", "ok"], timeout=5)
        assert result.stdout == b"ok\n"
    assert client.failure is None
