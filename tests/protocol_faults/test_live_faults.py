"""Each fault kind against our client and the real reference server, through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.checks.journal import Journal
from pytest_execserver.client import RecoveryError, RequestTimeout, StartOutcomeUnknown, TransportError
from pytest_execserver.client.errors import ExecServerError
from pytest_execserver.faults.protocol import FaultEvent, make_fault
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until

from .conftest import MakeClient, MakeProxy

LINES = 8
SLOW_LINES = ["sh", "-c", f"for i in $(seq 1 {LINES}); do echo line$i; sleep 0.05; done"]
EXPECTED = b"".join(b"line%d\n" % i for i in range(1, LINES + 1))


def _starts(server: ServerProcess, marker: str) -> int:
    assert server.journal_path is not None
    return sum(1 for p in Journal.load(server.journal_path).processes() if marker in " ".join(p.argv))


def _detection_s(history: History, event: FaultEvent) -> float:
    [first, *_] = history.select("reconnect", "invoke")
    return (first.time_ns - event.t_ns) / 1e9


async def test_drop_of_the_start_response_is_outcome_unknown_and_the_process_ran_once(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient
) -> None:
    proxy = await make_proxy(make_fault("drop", on="process/start:response"))
    client = await make_client(proxy.url, request_timeout_s=1.5)
    with pytest.raises(RequestTimeout):
        await client.start(["echo", "drop-marker"], cwd=ref.scratch)
    assert [(e.kind, e.message.split(" id=")[0]) for e in proxy.events] == [("drop", "response process/start")]
    await asyncio.sleep(0.3)  # the client must not re-send it meanwhile (the journal is the witness)
    assert _starts(ref, "drop-marker") == 1
    assert (await client.run(["echo", "next"], cwd=ref.scratch, timeout=20)).stdout == b"next\n"


async def test_cut_after_the_start_request_raises_start_outcome_unknown(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient
) -> None:
    proxy = await make_proxy(make_fault("cut", on="process/start:request"))
    client = await make_client(proxy.url)
    with pytest.raises(StartOutcomeUnknown):
        await client.start(["echo", "cut-marker"], cwd=ref.scratch)
    await wait_until(lambda: _starts(ref, "cut-marker") == 1, 5)
    await asyncio.sleep(0.3)
    assert _starts(ref, "cut-marker") == 1  # never re-sent after the reconnect
    assert (await client.run(["echo", "again"], cwd=ref.scratch, timeout=20)).stdout == b"again\n"


async def test_close_1012_on_the_third_output_resumes_and_output_is_byte_exact(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History
) -> None:
    proxy = await make_proxy(make_fault("close", code=1012, reason="restarting", on="process/output", nth=3))
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED and result.exit_code == 0
    assert [e.kind for e in proxy.events] == ["close"]
    reasons = [e.data.get("reason", "") for e in history.select("reconnect", "invoke")]
    assert reasons and "1012" in reasons[0]
    assert client.reconnects == 1 and proxy.connections_opened == 2


async def test_close_without_handshake_still_recovers(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History
) -> None:
    proxy = await make_proxy(make_fault("close", code=1011, on="process/output", nth=2, handshake=False))
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED
    reasons = [e.data.get("reason", "") for e in history.select("reconnect", "invoke")]
    assert reasons and "1011" in reasons[0]  # the client acts on the close frame, not on the TCP close


async def test_cut_mid_output_resets_and_output_is_byte_exact(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History
) -> None:
    proxy = await make_proxy(make_fault("cut", on="process/output", nth=2))
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED
    reasons = [e.data.get("reason", "") for e in history.select("reconnect", "invoke")]
    assert reasons and "ConnectionClosedError(None" in reasons[0]  # no close frame: the TCP connection died


def _raw_exchange(url: str) -> tuple[bytes, BaseException | None]:
    """Upgrade a plain socket (websockets' sans-I/O client writes the request), send ``initialize``, then
    read until the socket ends: what arrived, and the error (``None`` for a clean EOF)."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    from pytest_execserver.faults.protocol.wsframes import encode_frame

    protocol = ClientProtocol(parse_uri(url))
    host, port = url.removeprefix("ws://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        protocol.send_request(protocol.connect())
        sock.sendall(b"".join(protocol.data_to_send()))
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        sock.sendall(encode_frame(1, b'{"id":1,"method":"initialize","params":{"clientName":"raw"}}', mask=True))
        try:
            while data := sock.recv(65536):
                received += data
        except OSError as exc:
            return received, exc
        return received, None


async def test_cut_is_a_tcp_reset_after_the_matched_message(ref: ServerProcess, make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(make_fault("cut", on="initialize:response"))
    received, error = await asyncio.to_thread(_raw_exchange, proxy.url)
    assert b'"sessionId"' in received  # the matched message was forwarded first
    assert isinstance(error, ConnectionResetError)


async def test_blackhole_is_detected_by_keepalive_while_a_new_connection_works(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History, quick_keepalive: float
) -> None:
    """The server keeps the session attached to the silent connection (its pings have no timeout), so the
    client's resume is refused until the blackhole ends (1.5 s); then the session resumes byte-exact."""
    proxy = await make_proxy(make_fault("blackhole", on="process/output", nth=2, duration_ms=1500))
    client = await make_client(proxy.url, recovery_deadline_s=20)
    handle = await client.start(SLOW_LINES, cwd=ref.scratch)
    await wait_until(lambda: proxy.events, 10)
    other = await make_client(proxy.url)  # a new connection passes while the first is a half-open peer
    assert (await other.run(["echo", "fresh"], cwd=ref.scratch, timeout=20)).stdout == b"fresh\n"
    result = await handle.wait(30)
    assert result.stdout == EXPECTED
    detected = _detection_s(history, proxy.events[0])
    print(f"blackhole detected by our client after {detected * 1000:.0f} ms (bound {quick_keepalive * 1000:.0f} ms)")
    assert 0.8 * quick_keepalive <= detected <= 5 * quick_keepalive + 2  # wide: shared, noisy cores
    reasons = [e.data.get("reason", "") for e in history.select("reconnect", "invoke")]
    assert "keepalive ping timeout" in reasons[0]
    assert [e.phase for e in proxy.events] == ["fire", "end"]


async def test_a_lasting_blackhole_keeps_the_session_attached_and_the_client_reports_it(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, quick_keepalive: float
) -> None:
    """A half-open peer that never heals: the server still holds the session on the dead connection, so our
    client's resume is refused (-32010) and it gives up with a typed error at its recovery deadline."""
    proxy = await make_proxy(make_fault("blackhole", on="process/output", nth=2))
    client = await make_client(proxy.url, recovery_deadline_s=2)
    handle = await client.start(SLOW_LINES, cwd=ref.scratch)
    with pytest.raises(TransportError, match="already attached"):
        await handle.wait(30)
    assert [e.phase for e in proxy.events] == ["fire"]


async def test_mute_pongs_on_an_idle_connection_is_detected_by_keepalive(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History, quick_keepalive: float
) -> None:
    proxy = await make_proxy(make_fault("mute_pongs", on="initialized:notification"))
    client = await make_client(proxy.url, recovery_deadline_s=20)
    await wait_until(lambda: history.select("reconnect", "ok"), 10)
    detected = _detection_s(history, proxy.events[0])
    print(f"mute_pongs detected by our client after {detected * 1000:.0f} ms (bound {quick_keepalive * 1000:.0f} ms)")
    assert 0.8 * quick_keepalive <= detected <= 5 * quick_keepalive + 2
    assert (await client.run(["echo", "after"], cwd=ref.scratch, timeout=20)).stdout == b"after\n"


@pytest.mark.parametrize(
    "faults",
    [
        [make_fault("duplicate", on="process/output", nth=2)],
        [make_fault("reorder", on="process/output", nth=2, hold=2)],
        [make_fault("duplicate", on="process/output"), make_fault("reorder", on="process/output", nth=3, hold=2)],
        [make_fault("delay", on="process/output", nth=2, ms=300)],
    ],
    ids=["duplicate", "reorder", "duplicate+reorder", "delay"],
)
async def test_message_faults_on_output_keep_it_byte_exact(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, faults: list[object]
) -> None:
    proxy = await make_proxy(*faults)
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED and result.exit_code == 0
    assert len(proxy.events) == len(faults)


@pytest.mark.parametrize("how", ["truncate", "not_json", "wrong_type"])
async def test_corrupt_output_gives_exact_output_or_a_typed_error(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, how: str
) -> None:
    proxy = await make_proxy(make_fault("corrupt", on="process/output", nth=2, how=how))
    client = await make_client(proxy.url, request_timeout_s=5, recovery_deadline_s=5)
    try:
        result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    except (TransportError, ExecServerError) as exc:
        print(f"corrupt {how}: typed error {type(exc).__name__}: {exc}")
    else:
        assert result.stdout == EXPECTED
    assert [e.kind for e in proxy.events] == ["corrupt"]


async def test_inject_of_an_unknown_process_event_leaves_the_run_intact(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient
) -> None:
    ghost = {"method": "process/exited", "params": {"processId": "ghost", "seq": 99, "exitCode": 0}}
    proxy = await make_proxy(make_fault("inject", on="process/output", nth=1, frame=ghost))
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED
    assert [e.kind for e in proxy.events] == ["inject"]


async def test_server_pause_hook_is_awaited_before_the_message_stream_continues(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient
) -> None:
    """The proxy only calls the hook; here the hook does what the plugin will: SIGSTOP, wait, SIGCONT."""
    calls: list[tuple[str, float]] = []

    async def pause(event: FaultEvent) -> None:
        calls.append((event.kind, time.monotonic()))
        os.killpg(ref.popen.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(event.params["ms"] / 1000)
        finally:
            os.killpg(ref.popen.pid, signal.SIGCONT)

    proxy = await make_proxy(make_fault("server_pause", on="process/start:response", ms=400), on_fire=pause)
    client = await make_client(proxy.url)
    started = time.monotonic()
    result = await client.run(["echo", "paused"], cwd=ref.scratch, timeout=30)
    assert result.stdout == b"paused\n"
    assert [k for k, _ in calls] == ["server_pause"] and time.monotonic() - started >= 0.4
    assert proxy.hook_errors == []


async def test_a_hook_that_raises_is_recorded_not_fatal(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient
) -> None:
    async def broken(event: FaultEvent) -> None:
        raise RuntimeError("hook failed")

    proxy = await make_proxy(make_fault("server_restart", on="process/start:response"), on_fire=broken)
    client = await make_client(proxy.url)
    assert (await client.run(["echo", "ok"], cwd=ref.scratch, timeout=30)).stdout == b"ok\n"
    assert [str(e) for e in proxy.hook_errors] == ["hook failed"]
    assert [e.kind for e in proxy.events] == ["server_restart"]


async def test_upstream_must_be_loopback() -> None:
    from pytest_execserver.faults.protocol import ProtocolProxy

    with pytest.raises(ValueError, match="loopback"):
        ProtocolProxy("ws://192.0.2.1:80")
    with pytest.raises(ValueError, match="host:port"):
        ProtocolProxy("ws://127.0.0.1")


_ = RecoveryError  # imported for readers: the typed errors a corrupt stream may give


async def test_a_client_that_retries_a_lost_start_is_caught_by_the_journal(
    ref: ServerProcess, make_proxy: MakeProxy
) -> None:
    """The "ran once" check above can fail: a deliberately wrong client re-sends ``process/start`` when its
    response is lost, and the journal shows the process started twice."""
    import json

    import websockets

    proxy = await make_proxy(make_fault("drop", on="process/start:response"))
    async with websockets.connect(proxy.url, compression=None) as ws:
        await ws.send(json.dumps({"id": 1, "method": "initialize", "params": {"clientName": "wrong"}}))
        await ws.recv()
        await ws.send(json.dumps({"method": "initialized", "params": {}}))
        for attempt, pid in enumerate(["retry-1", "retry-2"], start=2):  # a new processId: a blind retry
            start = {"processId": pid, "argv": ["echo", "retry-marker"], "cwd": ref.scratch.as_uri(), "env": {},
                     "tty": False, "pipeStdin": False}  # fmt: skip
            await ws.send(json.dumps({"id": attempt, "method": "process/start", "params": start}))
            replies = []
            with contextlib.suppress(TimeoutError):
                while True:
                    replies.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)).get("id"))
            assert (attempt in replies) == (attempt == 3)  # the first response was dropped, the retry's passed
    await wait_until(lambda: _starts(ref, "retry-marker") == 2, 5)


async def test_close_towards_the_server_sends_its_code_there(
    ref: ServerProcess, make_proxy: MakeProxy, make_client: MakeClient, history: History
) -> None:
    proxy = await make_proxy(make_fault("close", to="server", code=4000, reason="client gone", on="process/output"))
    client = await make_client(proxy.url)
    result = await client.run(SLOW_LINES, cwd=ref.scratch, timeout=30)
    assert result.stdout == EXPECTED
    assert ref.journal_path is not None
    await wait_until(lambda: Journal.load(ref.journal_path).of_kind("conn_close"), 5)  # type: ignore[arg-type]
    assert Journal.load(ref.journal_path).of_kind("conn_close")[0]["code"] == 4000
    assert history.select("reconnect", "ok")  # the client got the 1001 and resumed


def _close_then_watch(url: str, reply: bool) -> tuple[int | None, str]:
    """Raw socket: initialize, read until a close frame; answer it if ``reply``; then watch the socket for
    1 s. Returns the close code received and what the socket did: "fin", "reset" or "open"."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    from pytest_execserver.faults.protocol.wsframes import (
        OP_CLOSE,
        FrameParser,
        close_payload,
        encode_frame,
        parse_close,
    )

    protocol = ClientProtocol(parse_uri(url))
    host, port = url.removeprefix("ws://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        protocol.send_request(protocol.connect())
        sock.sendall(b"".join(protocol.data_to_send()))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        parser = FrameParser()
        parser.feed(head.split(b"\r\n\r\n", 1)[1])
        sock.sendall(encode_frame(1, b'{"id":1,"method":"initialize","params":{"clientName":"raw"}}', mask=True))
        code = None
        while code is None:
            for frame in parser.feed(sock.recv(65536)):
                if frame.opcode == OP_CLOSE:
                    code = parse_close(frame.payload)[0]
        if reply:
            sock.sendall(encode_frame(OP_CLOSE, close_payload(code or 1000), mask=True))
        sock.settimeout(1.0)
        try:
            while sock.recv(65536):
                pass
            return code, "fin"
        except ConnectionResetError:
            return code, "reset"
        except TimeoutError:
            return code, "open"


@pytest.mark.parametrize(("handshake", "expected"), [(True, "fin"), (False, "open")])
async def test_close_handshake_completes_or_never_does(
    ref: ServerProcess, make_proxy: MakeProxy, handshake: bool, expected: str
) -> None:
    proxy = await make_proxy(make_fault("close", code=1012, on="initialize:response", handshake=handshake))
    code, ending = await asyncio.to_thread(_close_then_watch, proxy.url, True)
    assert (code, ending) == (1012, expected)
