"""Each ``--inject-bug`` kind changes exactly what it names (so the harness's checks can detect it)."""

from __future__ import annotations

import asyncio
import base64

from .refclient import Client, start_params

# four distinct output chunks, separated so each read() returns one
FOUR_CHUNKS = ["/bin/sh", "-c", "for x in A B C D; do printf $x; sleep 0.05; done"]


async def _run(launch_server, bug: str | None, pid: str = "p") -> tuple[Client, dict]:  # type: ignore[no-untyped-def,type-arg]
    server = launch_server("ref", *(["--inject-bug", bug] if bug else []))
    c = await Client.connect(server.url)
    await c.init()
    await c.call("process/start", start_params(pid, FOUR_CHUNKS, server.scratch))
    return c, {"scratch": server.scratch}


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


async def test_lose_closed(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "lose-closed")
    await c.wait_for(lambda f: f.get("method") == "process/exited")
    await asyncio.sleep(0.3)
    assert c.notifications("process/closed") == []
    read = await _read_all(c)
    assert read["closed"] is True and read["exited"] is True
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


async def test_stall_exit(launch_server) -> None:  # type: ignore[no-untyped-def]
    c, _ = await _run(launch_server, "stall-exit")
    await c.wait_for(lambda f: f.get("method") == "process/output" and f["params"]["seq"] == 4)
    await asyncio.sleep(0.4)
    assert c.notifications("process/exited") == [] and c.notifications("process/closed") == []
    read = await _read_all(c)
    assert (read["exited"], read["closed"], read["exitCode"]) == (False, False, None)
    assert _outputs(c) == [(1, b"A"), (2, b"B"), (3, b"C"), (4, b"D")]
    await c.close()


def test_help_documents_every_bug() -> None:
    from execserver_ref.bugs import KINDS
    from execserver_ref.cli import build_parser

    text = build_parser().format_help()
    for kind in KINDS:
        assert kind in text
