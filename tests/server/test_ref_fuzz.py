"""Hypothesis throws malformed and ill-typed frames at a running reference server: every request-shaped
frame gets exactly one answer (result or error, same id), every unparsable frame an ``id: -1`` error, and
the server stays alive and responsive.

Safety: no generated string contains ``/`` or ``..``, so no generated value can be a valid ``file://`` URI
or a path; ``process/start`` and every ``fs/*`` call therefore fail param decoding before touching anything.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from pytest_execserver.servers.launch import ServerProcess

METHODS = [
    "initialize",
    "process/start",
    "process/read",
    "process/write",
    "process/signal",
    "process/terminate",
    "environment/info",
    "fs/readFile",
    "fs/writeFile",
    "fs/createDirectory",
    "fs/getMetadata",
    "fs/canonicalize",
    "fs/readDirectory",
    "fs/remove",
    "fs/copy",
    "fs/open",
    "fs/readBlock",
    "fs/close",
]
FIELDS = [
    "processId", "argv", "cwd", "env", "tty", "pipeStdin", "arg0", "afterSeq", "maxBytes", "waitMs",
    "chunk", "writeId", "signal", "path", "dataBase64", "recursive", "force", "sourcePath",
    "destinationPath", "handleId", "offset", "len", "clientName", "resumeSessionId", "sandbox",
]  # fmt: skip

safe_text = st.text(alphabet=st.characters(blacklist_characters="/.\x00", blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(safe_text, inner, max_size=4)),
    max_leaves=12,
)
params = st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))


def _assert_safe(obj: Any) -> None:
    text = json.dumps(obj)
    assert "/" not in text and ".." not in text


@pytest.fixture(scope="module")
def ws(ref_server: ServerProcess) -> Iterator[ClientConnection]:
    with connect(ref_server.url, max_size=None) as conn:
        conn.send(json.dumps({"id": "init", "method": "initialize", "params": {"clientName": "fuzz"}}))
        conn.recv(timeout=5)
        conn.send(json.dumps({"method": "initialized"}))
        yield conn


_ids = itertools.count(1)


def _await_id(conn: ClientConnection, rid: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(conn.recv(timeout=10))
        if "method" not in frame and frame.get("id") == rid:
            return frame  # type: ignore[no-any-return]


def _alive(conn: ClientConnection) -> None:
    rid = f"alive-{next(_ids)}"
    conn.send(json.dumps({"id": rid, "method": "environment/info"}))
    assert "result" in _await_id(conn, rid)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    method=st.one_of(st.sampled_from(METHODS), safe_text),
    body=params,
    with_params=st.booleans(),
    str_id=st.booleans(),
    extra=st.dictionaries(st.sampled_from(["jsonrpc", "trace", "x"]), st.one_of(st.none(), st.just({})), max_size=2),
)
def test_every_request_gets_one_answer(
    ws: ClientConnection, method: str, body: Any, with_params: bool, str_id: bool, extra: dict[str, Any]
) -> None:
    n = next(_ids)
    rid: Any = f"f{n}" if str_id else n
    frame: dict[str, Any] = {**extra, "id": rid, "method": method}
    if with_params:
        frame["params"] = body
    _assert_safe({k: v for k, v in frame.items() if k != "method"})  # method names contain '/'
    ws.send(json.dumps(frame))
    answer = _await_id(ws, rid)
    assert ("result" in answer) != ("error" in answer)
    if "error" in answer:
        assert isinstance(answer["error"]["code"], int) and isinstance(answer["error"]["message"], str)


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=64).map(lambda b: b.replace(b"/", b"_").replace(b"..", b"_")),
        safe_text.map(lambda s: "{" + s),
        st.lists(values, max_size=3).map(json.dumps),
        scalars.map(json.dumps),
        st.sampled_from(["[", "{}", '{"id":null,"method":"x"}', '{"id":{},"method":"x"}', "[" * 300]),
    )
)
def test_unparsable_frames_get_id_minus_one(ws: ClientConnection, raw: bytes | str) -> None:
    if isinstance(raw, bytes):
        try:
            json.loads(raw)
            return  # accidentally valid JSON; covered elsewhere
        except ValueError:
            pass
    assert "/" not in (raw if isinstance(raw, str) else raw.decode("latin-1"))
    ws.send(raw)
    answer = _await_id(ws, -1)
    assert answer["error"]["code"] == -32600
    _alive(ws)


def test_huge_frame_is_refused_without_harm(ref_server: ServerProcess) -> None:
    with connect(ref_server.url, max_size=None) as conn:
        conn.send('{"id":1,"method":"x","params":"' + "a" * (8 * 1024 * 1024) + '"}')
        assert json.loads(conn.recv(timeout=10))["error"]["code"] == -32601
    with connect(ref_server.url, max_size=None) as conn:
        try:
            conn.send("a" * (20 * 1024 * 1024))
            conn.recv(timeout=10)
        except Exception:
            pass  # over the 16 MiB limit: the connection is closed
    with connect(ref_server.url, max_size=None) as conn:
        conn.send(json.dumps({"id": 1, "method": "initialize", "params": {"clientName": "after"}}))
        assert "result" in json.loads(conn.recv(timeout=5))


def test_server_survived(ws: ClientConnection, ref_server: ServerProcess) -> None:
    _alive(ws)
    assert ref_server.is_running()
