"""The reference server's journal (``--journal``) and its reader (:mod:`pytest_execserver.checks.journal`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.journal import Journal, JournalError, read_journal
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until

from .refclient import Client, start_params

# ---------------------------------------------------------------------------------------------- reader units


def _line(**record: Any) -> str:
    return json.dumps(record) + "\n"


def _out(seq: int, stream: str, data: bytes, process: str = "p") -> str:
    return _line(t=seq, kind="proc_output", session="s", process=process, seq=seq, stream=stream,
                 data_b64=base64.b64encode(data).decode())


def test_read_journal_drops_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(_line(t=1, kind="conn_open", conn=1, peer="x") + '{"t": 2, "kind": "fra')
    assert read_journal(path) == [{"t": 1, "kind": "conn_open", "conn": 1, "peer": "x"}]


def test_read_journal_rejects_a_malformed_middle_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(_line(t=1, kind="conn_open") + "garbage\n" + _line(t=3, kind="conn_close"))
    with pytest.raises(JournalError, match=":2: not a JSON line"):
        read_journal(path)


def test_read_journal_of_an_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text("")
    assert read_journal(path) == []


def test_processes_assemble_each_stream_in_seq_order(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(
        _line(t=0, kind="proc_start", session="s", process="p", argv=["sh"], cwd="/x", tty=False, pid=7)
        + _out(2, "stderr", b"E")
        + _out(3, "stdout", b"2")  # journal order need not be seq order; emitted() sorts by seq
        + _out(1, "stdout", b"1")
        + _line(t=4, kind="proc_exited", session="s", process="p", seq=4, exit_code=3, sandbox_denied=None)
        + _line(t=5, kind="proc_closed", session="s", process="p", seq=5)
        + _out(9, "stdout", b"orphan", process="unknown")  # no start record: ignored
    )
    [proc] = Journal.load(path).processes()
    assert (proc.argv, proc.pid, proc.stdout, proc.stderr, proc.pty) == (["sh"], 7, b"12", b"E", b"")
    assert (proc.exited, proc.exit_code, proc.exited_seq, proc.sandbox_denied) == (True, 3, 4, None)
    assert (proc.closed, proc.closed_seq) == (True, 5)


def test_process_lookup_is_unambiguous() -> None:
    start = {"kind": "proc_start", "process": "p", "argv": [], "cwd": "/", "tty": False, "pid": 1}
    journal = Journal([{**start, "session": "a"}, {**start, "session": "b"}])
    assert journal.process("p", session="b").session == "b"
    with pytest.raises(KeyError, match="2 processes"):
        journal.process("p")


def test_frames_filter_by_conn_dir_and_method() -> None:
    frames = [
        {"kind": "frame", "conn": 1, "dir": "in", "method": "initialize"},
        {"kind": "frame", "conn": 1, "dir": "out", "method": None},
        {"kind": "frame", "conn": 2, "dir": "in", "method": "initialize"},
        {"kind": "session", "conn": 2, "session": "s", "resumed": True, "t": 5},
    ]
    journal = Journal(frames)
    assert journal.frames(conn=1) == frames[:2]
    assert journal.frames(dir="in", method="initialize") == [frames[0], frames[2]]
    assert [(s.session, s.conn, s.resumed) for s in journal.sessions()] == [("s", 2, True)]


# ---------------------------------------------------------------------------------------------- integration

MIXED = ["/bin/sh", "-c", "printf out1; printf err1 >&2; sleep 0.05; printf 'out2\\377'; exit 3"]


def _journal(server: ServerProcess) -> Journal:
    assert server.journal_path is not None
    return Journal.load(server.journal_path)


async def test_fixture_started_ref_server_journals_inside_its_scratch(ref_server: ServerProcess) -> None:
    assert ref_server.journal_path is not None
    assert ref_server.scratch.resolve() in ref_server.journal_path.parents
    await wait_until(ref_server.journal_path.exists, 5, "journal file exists")


async def test_journal_bytes_equal_what_the_client_received(
    ref_server: ServerProcess, client: Client, work: Path
) -> None:
    await client.call("process/start", start_params("jmixed", MIXED, work))
    await client.wait_closed_notification("jmixed")
    got = {"stdout": b"", "stderr": b""}
    for n in client.notifications("process/output", "jmixed"):
        got[n["stream"]] += base64.b64decode(n["chunk"])
    [exited] = client.notifications("process/exited", "jmixed")
    [closed] = client.notifications("process/closed", "jmixed")

    def journalled() -> bool:
        return any(p.process_id == "jmixed" and p.closed for p in _journal(ref_server).processes())

    await wait_until(journalled, 5, "proc_closed journalled")
    proc = _journal(ref_server).process("jmixed")
    assert proc.stdout == got["stdout"] == b"out1out2\xff"
    assert proc.stderr == got["stderr"] == b"err1"
    assert (proc.exit_code, proc.exited_seq, proc.closed_seq) == (3, exited["seq"], closed["seq"])
    assert proc.argv == MIXED and proc.cwd == str(work)
    assert [c.seq for c in proc.chunks] == [n["seq"] for n in client.notifications("process/output", "jmixed")]


async def test_journal_records_every_frame_both_ways(ref_server: ServerProcess, work: Path) -> None:
    c = await Client.connect(ref_server.url)
    try:
        session = await c.init()
        await c.send("not json")
        await c.wait_for(lambda f: f.get("id") == -1)
        code, _ = await c.error("no/such", {})
        await c.call("process/start", start_params("jframes", ["/bin/true"], work))
        await c.wait_closed_notification("jframes")
    finally:
        await c.close()

    def conn_closed() -> bool:
        journal = _journal(ref_server)
        return any(s.session == session for s in journal.sessions()) and any(
            r["conn"] == _conn_of(journal, session) for r in journal.of_kind("conn_close")
        )

    await wait_until(conn_closed, 5, "conn_close journalled")
    journal = _journal(ref_server)
    conn = _conn_of(journal, session)
    inbound = journal.frames(conn=conn, dir="in")
    assert [f["method"] for f in inbound] == ["initialize", "initialized", None, "no/such", "process/start"]
    assert inbound[2]["bad"] is True
    assert inbound[4]["params"]["processId"] == "jframes"
    assert all(f["session"] == session for f in inbound[1:])
    outbound = journal.frames(conn=conn, dir="out")
    assert outbound[0]["result_keys"] == ["environmentInfo", "sessionId"]
    assert [f["error"] for f in outbound if f["error"] is not None] == [-32600, code]
    sent = [(f["method"], f.get("process")) for f in outbound if f["method"]]
    assert sent == [("process/exited", "jframes"), ("process/closed", "jframes")]
    assert len(outbound) == len(c.frames)


def _conn_of(journal: Journal, session: str) -> int:
    return next(s.conn for s in journal.sessions() if s.session == session)


async def test_journal_marks_a_resumed_session(ref_server: ServerProcess) -> None:
    first = await Client.connect(ref_server.url)
    session = await first.init()
    await first.close()
    second = await Client.connect(ref_server.url)
    try:
        await wait_until(lambda: _resumes(second, session), 5, "session resumed")
    finally:
        await second.close()
    records = [s for s in _journal(ref_server).sessions() if s.session == session]
    assert [s.resumed for s in records] == [False, True]
    assert records[0].conn != records[1].conn


async def _resumes(c: Client, session: str) -> bool:
    """Try to resume (the old connection's detach may still be in flight: retry until it is not)."""
    response = await c.request("initialize", {"clientName": "t", "resumeSessionId": session})
    return "result" in response


async def test_journal_keeps_a_chunk_the_drop_chunk_bug_lost(launch_server: Any) -> None:
    server = launch_server("ref", "--inject-bug", "drop-chunk")
    c = await Client.connect(server.url)
    try:
        await c.init()
        argv = ["/bin/sh", "-c", "for x in A B C; do printf $x; sleep 0.05; done"]
        await c.call("process/start", start_params("p", argv, server.scratch))
        await c.wait_closed_notification("p")
        delivered = c.output("p")
    finally:
        await c.close()
    await wait_until(lambda: _journal(server).process("p").closed, 5, "proc_closed journalled")
    assert delivered == b"AC"
    assert _journal(server).process("p").stdout == b"ABC"  # the journal is the truth, not the delivery
async def test_journal_stays_ascii_for_surrogates_and_non_ascii(ref_server: ServerProcess, client: Client) -> None:
    await client.send('{"id": 77, "method": "process/read", "params": {"processId": "\\udcff"}}')
    await client.wait_for(lambda f: f.get("id") == -1)
    await client.send('{"id": 78, "method": "process/read", "params": {"processId": "\\ud800\\udc00é"}}')
    await client.wait_for(lambda f: f.get("id") == 78)
    assert ref_server.journal_path is not None
    ref_server.journal_path.read_bytes().decode("ascii")
    reads = _journal(ref_server).frames(method="process/read")
    assert any(f["params"] == {"processId": "\U00010000é"} for f in reads)
