"""Each ``--inject-bug`` kind changes exactly what it names (so the harness's checks can detect it)."""

from __future__ import annotations

import base64
from typing import Any

from pytest_execserver.waiting import wait_until

from .refclient import Client, b64, start_params

# four distinct output chunks, separated so each read() returns one
FOUR_CHUNKS = ["/bin/sh", "-c", "for x in A B C D; do printf $x; sleep 0.05; done"]


async def _run(launch_server, bug: str | None, pid: str = "p") -> tuple[Client, dict]:  # type: ignore[no-untyped-def,type-arg]
    server = launch_server("ref", *(["--inject-bug", bug] if bug else []))
    c = await Client.connect(server.url)
    await c.init()
    await c.call("process/start", start_params(pid, FOUR_CHUNKS, server.scratch))
    return c, {"scratch": server.scratch, "server": server}


def _outputs(c: Client, pid: str = "p") -> list[tuple[int, bytes]]:
    return [(n["seq"], base64.b64decode(n["chunk"])) for n in c.notifications("process/output", pid)]


async def _read_all(c: Client, pid: str = "p") -> dict:  # type: ignore[type-arg]
    return await c.call("process/read", {"processId": pid})  # type: ignore[no-any-return]


def _read_bytes(read: dict) -> list[tuple[int, bytes]]:  # type: ignore[type-arg]
    return [(x["seq"], base64.b64decode(x["chunk"])) for x in read["chunks"]]


async def test_no_bug_baseline(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, None)
    await c.wait_closed_notification("p")
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    assert _read_bytes(await _read_all(c)) == _outputs(c)
    await c.close()


async def test_drop_chunk(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "drop-chunk")
    await c.wait_closed_notification("p")
    assert _outputs(c) == [(1, b"A"), (3, b"C"), (4, b"D")]  # seq hole, bytes gone
    read = await _read_all(c)
    assert _read_bytes(read) == [(1, b"A"), (3, b"C"), (4, b"D")]  # not recoverable via read either
    assert [n["seq"] for n in c.notifications("process/exited", "p")] == [5]
    await c.close()


async def test_duplicate_chunk(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "duplicate-chunk")
    await c.wait_closed_notification("p")
    assert _outputs(c) == [(1, b"A"), (1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    assert _read_bytes(await _read_all(c)) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


async def test_reorder(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "reorder")
    await c.wait_closed_notification("p")
    assert _outputs(c) == [(2, b"B"), (1, b"A"), (3, b"C"), (4, b"D")]
    assert _read_bytes(await _read_all(c)) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


async def test_reorder_single_chunk_is_flushed(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--inject-bug", "reorder")
    c = await Client.connect(server.url)
    await c.init()
    await c.call("process/start", start_params("one", ["/bin/echo", "x"], server.scratch))
    await c.wait_closed_notification("one")
    assert _outputs(c, "one") == [(1, b"x\n")]
    methods = [f["method"] for f in c.frames if "method" in f]
    assert methods == ["process/output", "process/exited", "process/closed"]
    await c.close()


def _journalled(server: Any, pid: str, what: str) -> bool:
    from pytest_execserver.checks.journal import Journal

    return any(getattr(p, what) for p in Journal.load(server.journal_path).processes() if p.process_id == pid)


async def test_lose_closed(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, ctx = await _run(launch_server, "lose-closed")
    await wait_until(lambda: _journalled(ctx["server"], "p", "closed"), 5, "the server closed the process")
    read = await _read_all(c)  # a round trip after the close: a closed notification would have come first
    assert c.notifications("process/closed") == []
    assert read["closed"] is True and read["exited"] is True
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


async def test_stall_exit(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, ctx = await _run(launch_server, "stall-exit")
    await wait_until(lambda: _journalled(ctx["server"], "p", "exited"), 5, "the process exited")
    read = await _read_all(c)  # a round trip after the exit: an exited notification would have come first
    assert c.notifications("process/exited") == [] and c.notifications("process/closed") == []
    assert (read["exited"], read["closed"], read["exitCode"]) == (False, False, None)
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


def test_help_documents_every_bug() -> None:
    from execserver_ref.bugs import KINDS
    from execserver_ref.cli import build_parser

    text = build_parser().format_help()
    for kind in KINDS:
        assert kind in text


# A process that prints A, then one chunk per line it reads: chunk boundaries set by the test, not by time.
STEPPED = ["/bin/sh", "-c", "printf A; read x; printf B; read y; printf C"]


async def _resume_and_step(launch_server, bug: str | None) -> tuple[Client, list[tuple[int, bytes]], Any]:  # type: ignore[no-untyped-def]
    server = launch_server("ref", *(["--inject-bug", bug] if bug else []))
    first = await Client.connect(server.url)
    session = await first.init()
    await first.call("process/start", start_params("p", STEPPED, server.scratch, pipeStdin=True))
    await first.wait_for(lambda f: f.get("method") == "process/output")
    await first.close()
    second = await Client.connect(server.url)
    await wait_until(lambda: _resumed(second, session), 5, "session resumed")
    await second.notify("initialized")
    await second.call("process/write", {"processId": "p", "chunk": b64("1\n"), "writeId": "w1"})
    await wait_until(lambda: _journal_has_chunk(server, 2), 5, "chunk 2 produced")
    await second.call("process/write", {"processId": "p", "chunk": b64("2\n"), "writeId": "w2"})
    await second.wait_closed_notification("p")
    return second, _outputs(second), server


async def _resumed(c: Client, session: str) -> bool:
    response = await c.request("initialize", {"clientName": "t", "resumeSessionId": session})
    return "result" in response


def _journal_has_chunk(server: Any, seq: int) -> bool:
    from pytest_execserver.checks.journal import Journal

    return any(c.seq == seq for p in Journal.load(server.journal_path).processes() for c in p.chunks)


async def test_lose_first_chunk_after_resume(launch_server) -> None:  # type: ignore[no-untyped-def]
    from pytest_execserver.checks.journal import Journal

    c, delivered, server = await _resume_and_step(launch_server, "lose-first-chunk-after-resume")
    assert delivered == [(3, b"C")]  # B (seq 2), the first chunk after the resume, never arrives
    assert _read_bytes(await _read_all(c)) == [(1, b"A"), (3, b"C")]  # nor can it be read back
    assert Journal.load(server.journal_path).process("p").stdout == b"ABC"  # the process did emit it
    await c.close()


async def test_lose_first_chunk_after_resume_baseline(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, delivered, _ = await _resume_and_step(launch_server, None)
    assert delivered == [(2, b"B"), (3, b"C")]
    assert _read_bytes(await _read_all(c)) == [(1, b"A"), (2, b"B"), (3, b"C")]
    await c.close()


async def test_lose_first_chunk_after_resume_spares_a_fresh_session(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "lose-first-chunk-after-resume")
    await c.wait_closed_notification("p")
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()
