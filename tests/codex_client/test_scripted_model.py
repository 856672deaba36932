"""The scripted model's sans-I/O core: parsing what codex told the model, and playing a script (no network).

The texts are verbatim ``function_call_output`` items from codex 0.171.0 runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.subjects.base import RunRequest, SubjectError
from pytest_execserver.subjects.codex import (
    CodexRun,
    CodexSubject,
    codex_client_version,
    codex_view,
    is_codex_client,
    make_codex_subject,
    outcome_of,
    request_steps,
)
from pytest_execserver.subjects.scripted_model import (
    FINAL_MESSAGE,
    Conversation,
    ExecCommand,
    WriteStdin,
    output_text,
    parse_tool_output,
    sse,
)

EXITED = ("Chunk ID: 16b7fa\nWall time: 0.0000 seconds\nProcess exited with code 3\nOriginal token count: 2\n"
          "Output:\na\nb\nerr\n")
RUNNING = ("Chunk ID: 45598e\nWall time: 0.2516 seconds\nProcess running with session ID 86302\n"
           "Original token count: 0\nOutput:\n")
TRUNCATED = (
    "Chunk ID: f6db91\nWall time: 0.0000 seconds\nProcess exited with code 0\nOriginal token count: 2501\n"
    "Output:\n"
    "Warning: truncated output (original token count: 2501)\nTotal output lines: 1\n\naaaa…1 chars truncated…aaaa"
)
FAILED = ('exec_command failed: CreateProcess { message: "Rejected(\\"Failed to create unified exec process: '
          'exec-server rejected request (-32603): No such file or directory (os error 2)\\")" }')


def test_parses_exit_code_and_output_section() -> None:
    parsed = parse_tool_output(EXITED)
    assert (parsed.exit_code, parsed.output, parsed.truncated, parsed.failure) == (3, "a\nb\nerr\n", False, None)
    assert parsed.original_token_count == 2 and not parsed.running


def test_parses_a_running_process_and_its_session() -> None:
    parsed = parse_tool_output(RUNNING)
    assert parsed.running and parsed.session_id == 86302 and parsed.exit_code is None and parsed.output == ""


def test_output_may_itself_contain_header_like_lines() -> None:
    text = EXITED.replace("a\nb\nerr\n", "Output:\nProcess exited with code 9\n")
    assert parse_tool_output(text).output == "Output:\nProcess exited with code 9\n"
    assert parse_tool_output(text).exit_code == 3


def test_truncation_is_reported_as_such_and_the_warning_is_not_output() -> None:
    parsed = parse_tool_output(TRUNCATED)
    assert parsed.truncated and parsed.exit_code == 0
    assert parsed.output == "aaaa…1 chars truncated…aaaa"


def test_output_over_codex_buffer_cap_is_truncated() -> None:
    text = EXITED.replace("a\nb\nerr\n", "Warning: truncated output (original token count: 497224)\n"
                          "... 940319 bytes omitted ...\n\n1\n2\n")
    parsed = parse_tool_output(text)
    assert parsed.truncated and parsed.output == "1\n2\n"


def test_a_text_not_in_the_output_format_is_a_failure() -> None:
    parsed = parse_tool_output(FAILED)
    assert parsed.failure == FAILED and parsed.exit_code is None and parsed.output == ""


@pytest.mark.parametrize("output", [EXITED, [{"type": "input_text", "text": EXITED}], {"content": EXITED}])
def test_output_text_accepts_every_shape(output: Any) -> None:
    assert output_text({"type": "function_call_output", "output": output}) == EXITED


def _events(answer: list[dict[str, Any]]) -> dict[str, Any]:
    assert [e["type"] for e in answer] == ["response.created", "response.output_item.done", "response.completed"]
    assert "usage" in answer[-1]["response"]
    item: dict[str, Any] = answer[1]["item"]
    return item


def _reply(call: dict[str, Any], text: str) -> dict[str, Any]:
    return {"input": [{"type": "message", "role": "user", "content": []}, call,
                      {"type": "function_call_output", "call_id": call["call_id"], "output": text}]}


def test_conversation_polls_a_running_command_then_ends_the_turn() -> None:
    talk = Conversation([ExecCommand("sleep 1", workdir="w")])
    first = _events(talk.respond({"input": []}))
    assert first["name"] == "exec_command"
    assert json.loads(first["arguments"]) == {"cmd": "sleep 1", "login": False, "workdir": "w"}
    poll = _events(talk.respond(_reply(first, RUNNING)))
    assert poll["name"] == "write_stdin"
    assert json.loads(poll["arguments"]) == {"session_id": 86302, "chars": "", "yield_time_ms": 30000}
    final = _events(talk.respond(_reply(poll, EXITED)))
    assert final["type"] == "message" and final["content"][0]["text"] == FINAL_MESSAGE and talk.finished
    [result] = talk.results
    assert result.finished and result.exit_code == 3 and result.output == "a\nb\nerr\n"


def test_conversation_answers_a_retried_request_the_same_way() -> None:
    talk = Conversation([ExecCommand("true")])
    first = talk.respond({"input": []})
    assert talk.respond({"input": []}) == first
    assert len(talk.results) == 1


def test_scripted_write_stdin_goes_to_the_running_session() -> None:
    talk = Conversation([ExecCommand("cat", tty=True), WriteStdin("hi\n")])
    first = _events(talk.respond({"input": []}))
    write = _events(talk.respond(_reply(first, RUNNING)))
    assert json.loads(write["arguments"]) == {"session_id": 86302, "chars": "hi\n"}


def test_write_stdin_without_a_running_command_is_refused() -> None:
    talk = Conversation([ExecCommand("true"), WriteStdin("x")])
    first = _events(talk.respond({"input": []}))
    with pytest.raises(ValueError, match="not running"):
        talk.respond(_reply(first, EXITED))


def test_sse_names_each_event_by_its_type() -> None:
    assert sse([{"type": "a.b", "x": 1}]) == b'event: a.b\ndata: {"type": "a.b", "x": 1}\n\n'


def test_request_becomes_a_shell_quoted_command_in_the_request_cwd() -> None:
    [step] = request_steps(RunRequest(argv=["printf", "%s\n", "a b"], cwd="file:///s/x%20y", env={"K": "v"}))
    assert isinstance(step, ExecCommand)
    assert step.cmd == "env -i -- K=v printf '%s\n' 'a b'" and step.workdir == "/s/x y" and not step.tty


def test_request_with_stdin_uses_a_terminal_and_ends_input_with_eof() -> None:
    first, second = request_steps(RunRequest(argv=["cat"], cwd="file:///s", stdin=b"ab"))
    assert isinstance(first, ExecCommand) and first.tty
    assert isinstance(second, WriteStdin) and second.chars == "ab\x04\x04"


def test_outcome_merges_polls_and_reports_failures_and_truncation() -> None:
    talk = Conversation([ExecCommand("x")])
    first = _events(talk.respond({"input": []}))
    poll = _events(talk.respond(_reply(first, RUNNING.replace("Output:\n", "Output:\npart1 "))))
    talk.respond(_reply(poll, TRUNCATED))
    outcome = outcome_of(talk.results, CodexRun(0.0))
    assert outcome.stdout == "part1 aaaa…1 chars truncated…aaaa".encode() and outcome.truncated
    assert outcome.exit_code == 0 and outcome.error is None

    failed = Conversation([ExecCommand("x")])
    call = _events(failed.respond({"input": []}))
    failed.respond(_reply(call, FAILED))
    outcome = outcome_of(failed.results, CodexRun(0.0))
    assert outcome.error is not None and outcome.error.type == "exec_command failed"
    assert "No such file or directory" in outcome.error.message and outcome.exit_code is None


def test_outcome_without_any_tool_output_names_what_codex_printed() -> None:
    outcome = outcome_of([], CodexRun(0.0, returncode=1, stderr="boom\nError: no provider\n"))
    assert outcome.error is not None and outcome.error.type == "NoToolOutput" and "no provider" in outcome.error.message


def test_client_spec_parsing() -> None:
    assert is_codex_client("codex") and is_codex_client("codex@0.169.0") and not is_codex_client("ours")
    assert codex_client_version("codex") is None and codex_client_version("codex@latest") == "latest"
    with pytest.raises(ValueError):
        codex_client_version("codex@")
    with pytest.raises(ValueError):
        codex_client_version("codex@1;rm")


def test_make_codex_subject_takes_the_version_from_the_spec(tmp_path: Path) -> None:
    subject = make_codex_subject("codex@0.169.0", "ws://127.0.0.1:1", tmp_path)
    assert subject.name == "codex@0.169.0" and subject.version == "0.169.0" and subject.merged_streams
    assert make_codex_subject("codex", "ws://127.0.0.1:1", tmp_path).version is None
    with pytest.raises(ValueError):
        make_codex_subject("ours", "ws://127.0.0.1:1", tmp_path)


def test_codex_view_joins_streams_and_replaces_invalid_utf8_across_chunk_boundaries() -> None:
    euro = "€".encode()
    assert codex_view([b"a", euro[:1], euro[1:], b"\xff"]) == "a€\ufffd".encode()
    assert CodexSubject.delivered_view([("stdout", b"1\n"), ("stderr", b"e\n"), ("stdout", b"2\n")]) == (
        b"1\ne\n2\n", b"")


def test_binary_stdin_is_refused_with_the_reason() -> None:
    with pytest.raises(SubjectError, match="stdin is not UTF-8"):
        request_steps(RunRequest(argv=["cat"], cwd="file:///s", stdin=b"\xff\xfe"))
