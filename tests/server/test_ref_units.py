"""Unit tests of the reference server's pure parts: framing, params decoding, retention, read rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from execserver_ref.connection import INITIALIZE
from execserver_ref.envelope import (
    ClientReply,
    FrameError,
    Notification,
    Request,
    RpcError,
    encode_error,
    encode_notification,
    encode_result,
    parse_frame,
)
from execserver_ref.handlers.fs import CLOSE, OPEN, READ_FILE, REMOVE
from execserver_ref.handlers.process import READ, START, TERMINATE
from execserver_ref.outbound import Outbound
from execserver_ref.params import Base64, UInt, b64decode, parse_file_uri
from execserver_ref.process import exit_code_of
from execserver_ref.retention import Chunk, Retention
from hypothesis import given
from hypothesis import strategies as st


def test_classify() -> None:
    assert parse_frame('{"id":1,"method":"m","params":{"a":1}}') == Request(1, "m", {"a": 1}, None)
    assert parse_frame('{"id":"x","method":"m"}') == Request("x", "m", None, None)
    assert parse_frame('{"method":"n"}') == Notification("n", None)
    assert parse_frame('{"id":1,"result":{}}') == ClientReply(1)
    assert parse_frame('{"id":1,"error":{}}') == ClientReply(1)
    assert parse_frame(b'{"id":-5,"method":"m","jsonrpc":"1.0"}') == Request(-5, "m", None, None)
    trace = {"traceparent": "00-a-b-01"}
    assert parse_frame(json.dumps({"id": 1, "method": "m", "trace": trace})).trace == trace


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "EOF while parsing a value at line 1 column 0"),
        ("nope", "expected ident at line 1 column 2"),
        ("{", "EOF while parsing an object"),
        ("[1]", "expected a JSON-RPC object"),
        ('{"id":1}', "missing field `error`"),
        ('{"id":true,"method":"m"}', "untagged enum RequestId"),
        ('{"id":9223372036854775808,"method":"m"}', "untagged enum RequestId"),
        ('{"id":1,"method":"m","trace":[]}', "expected struct W3cTraceContext"),
        ('{"id":1,"method":"m","trace":{"traceparent":1}}', "expected a string"),
        ('{"id":1,"method":"m","x":NaN}', "expected value"),
        ('{"id":1,"id":2,"method":"m"}', "duplicate JSON object key `id`"),
        ("[" * 128 + "]" * 128, "recursion limit exceeded"),
    ],
)
def test_frame_errors(text: str, reason: str) -> None:
    with pytest.raises(FrameError, match=None) as info:
        parse_frame(text)
    assert reason in str(info.value)


def test_nesting_limit_ignores_brackets_in_strings() -> None:
    text = json.dumps({"id": 1, "method": "m", "params": {"s": "[" * 500}})
    assert isinstance(parse_frame(text), Request)
    assert isinstance(parse_frame('{"id":1,"method":"m","params":' + "[" * 125 + "]" * 125 + "}"), Request)


def test_encoding_has_no_jsonrpc_member() -> None:
    assert json.loads(encode_result(1, {"a": 1})) == {"id": 1, "result": {"a": 1}}
    assert encode_error(-1, -32600, "x") == '{"error":{"code":-32600,"message":"x"},"id":-1}'
    assert json.loads(encode_notification("m", {})) == {"method": "m", "params": {}}


def _err(kind: Any, value: Any) -> tuple[int, str]:
    with pytest.raises(RpcError) as info:
        kind.decode(value)
    return info.value.code, info.value.message


def test_params_messages() -> None:
    assert _err(START, None) == (-32602, "invalid type: null, expected struct WireExecParams")
    assert _err(START, {"processId": "x"}) == (-32602, "missing field `argv`")
    assert _err(START, {"argv": 5, "processId": 1}) == (-32602, "invalid type: number, expected a sequence")
    assert _err(START, {"processId": 1, "argv": 5}) == (-32602, "invalid type: number, expected a string")
    assert _err(READ, {"processId": "p", "waitMs": 1.5}) == (-32602, "invalid number")
    assert _err(READ, {"processId": "p", "afterSeq": 2**64}) == (-32602, "invalid number")
    assert _err(UInt("usize"), False) == (-32602, "invalid type: boolean `false`, expected usize")
    assert READ.decode({"processId": "p", "afterSeq": None}) == {
        "processId": "p",
        "afterSeq": None,
        "maxBytes": None,
        "waitMs": None,
    }
    assert _err(Base64(), "a") == (-32602, "Invalid input length 1.")
    assert _err(Base64(), "!") == (-32602, "Invalid symbol 33, offset 0.")


def test_params_sequence_form() -> None:
    """serde accepts a struct as a JSON array of its fields in codex's declaration order (observed)."""
    assert _err(INITIALIZE, []) == (-32602, "invalid length 0, expected struct InitializeParams with 2 elements")
    # resumeSessionId has #[serde(default)]: may be left out
    assert INITIALIZE.decode(["x"]) == {"clientName": "x", "resumeSessionId": None}
    assert INITIALIZE.decode(["x", None]) == {"clientName": "x", "resumeSessionId": None}
    assert _err(INITIALIZE, [5]) == (-32602, "invalid type: number, expected a string")
    assert _err(INITIALIZE, ["x", None, 1]) == (-32602, "invalid length 3, expected fewer elements in array")
    assert _err(TERMINATE, []) == (-32602, "invalid length 0, expected struct TerminateParams with 1 element")
    assert _err(CLOSE, ["h", 1]) == (-32602, "invalid length 2, expected fewer elements in array")
    # Option fields without #[serde(default)] are still required in the sequence form
    assert _err(READ, ["p"]) == (-32602, "invalid length 1, expected struct ReadParams with 4 elements")
    assert READ.decode(["p", 1, None, 2]) == {"processId": "p", "afterSeq": 1, "maxBytes": None, "waitMs": 2}
    # WireExecParams has 14 fields; pipeStdin (index 8) and enforceManagedNetwork (11) default
    head = ["p", None, ["/bin/true"], "file:///w", None, None, {}, False]
    assert _err(START, head) == (-32602, "invalid length 9, expected struct WireExecParams with 14 elements")
    assert _err(START, [*head, False, None, None]) == (
        -32602,
        "invalid length 12, expected struct WireExecParams with 14 elements",
    )
    full = START.decode([*head, True, "zero", None, False, None, None])
    assert (full["processId"], full["argv"], full["cwd"], full["pipeStdin"], full["arg0"]) == (
        "p",
        ["/bin/true"],
        "/w",
        True,
        "zero",
    )
    assert _err(START, ["p", 5]) == (-32602, "invalid type: number, expected struct ExecMetadata")
    # fs structs carry an unnamed defaulted slot before sandbox; sandbox itself is required
    assert _err(READ_FILE, ["file:///a"]) == (
        -32602,
        "invalid length 2, expected struct WireFsReadFileParams with 3 elements",
    )
    assert READ_FILE.decode(["file:///a", None, None]) == {"path": "/a", "sandbox": None}
    assert _err(READ_FILE, ["file:///a", 5]) == (-32602, "invalid type: number, expected a boolean")
    assert _err(REMOVE, ["file:///a", True, True]) == (
        -32602,
        "invalid length 4, expected struct WireFsRemoveParams with 5 elements",
    )
    assert _err(OPEN, ["h", "file:///a", None, None]) == (-32602, "invalid type: null, expected string or map")
    assert _err(OPEN, ["h", "file:///a", "x", None]) == (-32602, "unknown variant `x`, expected `read` or `replace`")
    assert OPEN.decode(["h", "file:///a", "read", None]) == {"handleId": "h", "path": "/a", "sandbox": None}
    # the unnamed slots do not exist in the map form
    assert READ_FILE.decode({"path": "file:///a"}) == {"path": "/a", "sandbox": None}


def test_exit_code_rule() -> None:
    """Pipes: 128 + signal; PTY: 1 for any signal (portable_pty ``ExitStatus::with_signal``)."""
    assert exit_code_of(3) == 3 and exit_code_of(3, tty=True) == 3
    assert exit_code_of(-9) == 137 and exit_code_of(-2) == 130
    assert exit_code_of(-9, tty=True) == 1 and exit_code_of(-15, tty=True) == 1


@given(st.binary(max_size=64))
def test_base64_roundtrip(data: bytes) -> None:
    import base64

    assert b64decode(base64.b64encode(data).decode()) == data


def test_file_uris() -> None:
    assert parse_file_uri("file:///a%20b/c") == "/a b/c"
    assert parse_file_uri("file://localhost/x") == "/x"
    for bad, code in (("/abs", -32602), ("http://x/y", -32602), ("file://host/y", -32600), ("file:rel", -32600)):
        with pytest.raises(RpcError) as info:
            parse_file_uri(bad)
        assert info.value.code == code, bad


def _retention(sizes: list[int], cap: int = 100) -> Retention:
    r = Retention(cap)
    for seq, size in enumerate(sizes, 1):
        r.append(Chunk(seq, "stdout", b"x" * size))
    return r


def test_retention_evicts_oldest_to_cap() -> None:
    r = _retention([40, 40, 40, 40])
    assert [c.seq for c in r] == [3, 4] and r.total == 80 and r.evicted_chunks == 2
    assert r.oldest_seq() == 3


def test_select_rules() -> None:
    r = _retention([10, 20, 30], cap=1000)
    assert [c.seq for c in r.select(0, None)] == [1, 2, 3]
    assert [c.seq for c in r.select(1, None)] == [2, 3]
    assert r.select(3, None) == []
    assert [c.seq for c in r.select(0, 0)] == [1]  # first chunk always whole
    assert [c.seq for c in r.select(0, 25)] == [1]  # 10 fits, 10+20 > 25 stops
    assert [c.seq for c in r.select(0, 30)] == [1, 2]  # exactly reached
    assert [c.seq for c in r.select(1, 1000)] == [2, 3]


@given(
    st.lists(st.integers(1, 50), max_size=40),
    st.integers(0, 45),
    st.one_of(st.none(), st.integers(0, 200)),
    st.integers(1, 300),
)
def test_select_properties(sizes: list[int], after: int, max_bytes: int | None, cap: int) -> None:
    r = _retention(sizes, cap)
    assert r.total <= cap
    chunks = r.select(after, max_bytes)
    seqs = [c.seq for c in chunks]
    assert seqs == sorted(seqs) and all(s > after for s in seqs)
    retained_after = [c.seq for c in r if c.seq > after]
    assert seqs == retained_after[: len(seqs)]  # a prefix: no gaps introduced by select
    if max_bytes is not None and len(chunks) > 1:
        assert sum(len(c.data) for c in chunks) <= max_bytes
    if retained_after:
        assert seqs  # something is always returned when something is newer


async def test_outbound_backpressure_and_close() -> None:
    q = Outbound(capacity=2)
    await q.put("a")
    await q.put("b")
    blocked = asyncio.create_task(q.put("c"))
    for _ in range(5):  # let the producer run: it must stay blocked on the full queue
        await asyncio.sleep(0)
    assert not blocked.done()
    assert await q.get_batch() == ["a", "b"]
    await asyncio.wait_for(blocked, 1)
    assert await q.get_batch() == ["c"]
    await q.put("d")
    await q.put("e")
    stuck = asyncio.create_task(q.put("f"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not stuck.done()
    q.close()
    await asyncio.wait_for(stuck, 1)  # close releases waiting producers
    assert await q.get_batch() == []
