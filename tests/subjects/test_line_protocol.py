"""The adapter line protocol without I/O: requests encoded, replies validated with a clear error."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from pytest_execserver.subjects.base import ClientFailure, RunRequest, SubjectError
from pytest_execserver.subjects.subprocess import adapter_argv, decode_reply, encode_request


def test_request_line_is_the_documented_json() -> None:
    line = encode_request(3, RunRequest(["sh", "-c", "echo hi"], "file:///s", {"PATH": "/bin"}, b"in", False, 500))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"id": 3, "op": "run", "argv": ["sh", "-c", "echo hi"], "cwd": "file:///s",
                                "env": {"PATH": "/bin"}, "stdin_b64": base64.b64encode(b"in").decode(),
                                "tty": False, "timeout_ms": 500}
    assert json.loads(encode_request(1, RunRequest(["true"], "file:///s")))["stdin_b64"] is None


def test_reply_completed_and_failed() -> None:
    ok = decode_reply(json.dumps({"id": 1, "exit_code": 3, "stdout_b64": base64.b64encode(b"out").decode(),
                                  "stderr_b64": "", "error": None}).encode(), 1)
    assert (ok.exit_code, ok.stdout, ok.stderr, ok.error) == (3, b"out", b"", None)
    failed = decode_reply(b'{"id": 2, "exit_code": null, "stdout_b64": null, "stderr_b64": null, '
                          b'"error": {"type": "TransportError", "message": "gone"}}', 2)
    assert failed.error == ClientFailure("TransportError", "gone") and failed.exit_code is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "reply is not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"id": 7, "exit_code": 0}', "reply id 7 does not match request id 1"),
        (b'{"id": 1, "exit_code": true}', "exit_code must be an integer or null"),
        (b'{"id": 1, "exit_code": null, "error": null}', "neither an exit_code nor an error"),
        (b'{"id": 1, "exit_code": null, "error": "boom"}', 'error must be null or {"type": str, "message": str}'),
        (b'{"id": 1, "exit_code": 0, "stdout_b64": "***"}', "reply field 'stdout_b64' is not valid base64"),
    ],
)
def test_bad_reply_is_a_subject_error(line: bytes, message: str) -> None:
    with pytest.raises(SubjectError, match=re.escape(message)):
        decode_reply(line, 1)


def test_command_needs_the_url_placeholder(tmp_path: Path) -> None:
    (tmp_path / "my client.js").write_text("")
    assert adapter_argv("node 'my client.js' --url={url}", "ws://h:1", base=str(tmp_path)) == [
        "node", str(tmp_path / "my client.js"), "--url=ws://h:1"]
    with pytest.raises(ValueError, match=re.escape("has no {url}")):
        adapter_argv("node client.js", "ws://h:1")
    with pytest.raises(ValueError, match=re.escape("missing.js does not exist (relative paths resolve from")):
        adapter_argv("node missing.js {url}", "ws://h:1", base=str(tmp_path))


def test_bad_client_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "execserver", "--execserver-client", "node client.js")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--execserver-client: client command 'node client.js' has no {url}*"])
    result = pytester.runpytest_subprocess("-p", "execserver", "--execserver-client", "ours:fast")
    result.stderr.fnmatch_lines(["*--execserver-client: unknown client 'ours:fast'; use ours, ours:legacy-read*"])
    result = pytester.runpytest_subprocess("-p", "execserver", "--execserver-client", "codex@1.x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--execserver-client: client 'codex@1.x': codex version '1.x' is not 'latest' or a "
                                 "release number*"])


def test_relative_paths_in_the_command_are_read_from_where_pytest_started(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "client.py").write_text("")
    argv = adapter_argv("python examples/client.py {url} --log out/x.log", "ws://h:1", base=str(tmp_path))
    assert argv == ["python", str(tmp_path / "examples" / "client.py"), "ws://h:1", "--log", "out/x.log"]
    (tmp_path / "client.py").write_text("")
    (tmp_path / "python").write_text("")
    argv = adapter_argv("python client.py {url}", "ws://h:1", base=str(tmp_path))
    assert argv == ["python", str(tmp_path / "client.py"), "ws://h:1"]
