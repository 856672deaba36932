"""JSON-RPC framing: parse a websocket frame, classify it, and encode responses, errors, notifications.

Mirrors codex: server frames carry no ``jsonrpc`` member; unparsable frames are answered with ``id: -1``
and code -32600; request ids are i64 or strings.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32004
SESSION_ALREADY_ATTACHED = -32010

MAX_DEPTH = 127  # serde_json's recursion limit (128) counting the outer object
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

RequestId = int | str

log = logging.getLogger("execserver_ref.envelope")


class RpcError(Exception):
    """A JSON-RPC error to send back for one request."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def invalid_request(message: str) -> RpcError:
    return RpcError(INVALID_REQUEST, message)


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def internal_error(message: str) -> RpcError:
    return RpcError(INTERNAL_ERROR, message)


class FrameError(Exception):
    """The frame is not a JSON-RPC message; the text is the serde-style reason."""


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: Any
    trace: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class ClientReply:
    """A response or error sent by the client (codex drops the connection on these)."""

    id: Any


Message = Request | Notification | ClientReply


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1)
    return line, col


def _reject_constant(name: str) -> Any:
    raise ValueError(f"constant {name}")


class _DupKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DupKey(key)
            seen.add(key)
    return result


_decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_reject_constant)


def _too_deep(text: str) -> int | None:
    """Index of the bracket that exceeds the nesting limit, if any (ignores brackets inside strings)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    in_string = False
    escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return index
        elif char in "]}":
            depth -= 1
    return None


def _serde_reason(exc: json.JSONDecodeError) -> str:
    text, pos = exc.doc, exc.pos
    line, col = _position(text, pos)
    msg = exc.msg
    at_eof = pos >= len(text.rstrip())
    if msg == "Extra data":
        return f"trailing characters at line {line} column {col + 1}"
    if at_eof:
        if msg.startswith("Unterminated string"):
            return f"EOF while parsing a string at line {line} column {col}"
        if "delimiter" in msg or "property name" in msg:
            return f"EOF while parsing an object at line {line} column {col}"
        return f"EOF while parsing a value at line {line} column {col}"
    if msg.startswith("Expecting property name"):
        return f"key must be a string at line {line} column {col + 1}"
    if msg.startswith("Expecting ':'"):
        return f"expected `:` at line {line} column {col + 1}"
    if msg.startswith("Expecting ','"):
        return f"expected `,` or `}}` at line {line} column {col + 1}"
    if msg.startswith("Invalid control character"):
        return f"control character (\\u0000-\\u001F) found while parsing a string at line {line} column {col + 1}"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return f"invalid escape at line {line} column {col + 1}"
    if text[pos : pos + 1] in ("n", "t", "f"):
        return f"expected ident at line {line} column {col + 2}"
    return f"expected value at line {line} column {col + 1}"


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _surrogate_problem(text: str) -> tuple[str, int] | None:
    """serde_json's error for a lone surrogate escape (Python's json accepts them; UTF-8 cannot carry them).

    Returns the reason and the index serde reports the error at, or None if every surrogate is paired."""
    index = 0
    length = len(text)
    in_string = False
    while index < length:
        char = text[index]
        if not in_string:
            in_string = char == '"'
            index += 1
        elif char == '"':
            in_string = False
            index += 1
        elif char != "\\":
            index += 1
        elif text[index + 1 : index + 2] != "u":
            index += 2
        else:
            code = _hex4(text, index + 2)
            if code is None:
                return None  # the JSON parser reports the bad escape
            if 0xDC00 <= code <= 0xDFFF:
                return "lone leading surrogate in hex escape", index + 5
            if not 0xD800 <= code <= 0xDBFF:
                index += 6
                continue
            follow = index + 6
            if text[follow : follow + 1] != "\\":
                return "unexpected end of hex escape", follow
            if text[follow + 1 : follow + 2] != "u":
                return "unexpected end of hex escape", follow + 1
            low = _hex4(text, follow + 2)
            if low is None:
                return None
            if not 0xDC00 <= low <= 0xDFFF:
                return "lone leading surrogate in hex escape", follow + 5
            index = follow + 6
    return None


def _hex4(text: str, start: int) -> int | None:
    digits = text[start : start + 4]
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        return None
    return int(digits, 16)


def parse_frame(data: str | bytes) -> Message:
    """Decode one websocket frame into a message, or raise :class:`FrameError`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("expected value at line 1 column 1") from None
    else:
        text = data
    deep = _too_deep(text)
    if deep is not None:
        line, col = _position(text, deep)
        raise FrameError(f"recursion limit exceeded at line {line} column {col + 1}")
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise FrameError(_serde_reason(exc)) from None
    except _DupKey as exc:
        raise FrameError(f"duplicate JSON object key `{exc.key}` at line 1 column {len(text)}") from None
    except (ValueError, RecursionError):
        raise FrameError("expected value at line 1 column 1") from None
    if _SURROGATE_ESCAPE.search(text):
        problem = _surrogate_problem(text)
        if problem is not None:
            line, col = _position(text, problem[1])
            raise FrameError(f"{problem[0]} at line {line} column {col + 1}")
    return classify(value)


def _request_id(value: Any) -> RequestId:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if _I64_MIN <= value <= _I64_MAX:
            return value
        # serde_json (arbitrary_precision off) buffers an untagged enum's integer as u64/i64, else u128/i128
        if -(2**127) <= value < _I64_MIN:
            raise FrameError(f"invalid type: integer `{value}` as i128, expected any value")
        if 2**64 <= value < 2**128:
            raise FrameError(f"invalid type: integer `{value}` as u128, expected any value")
    raise FrameError("data did not match any variant of untagged enum RequestId")


_DEBUG_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\x00": "\\0"}


def debug_str(text: str) -> str:
    """Rust's ``{:?}`` of a string: quoted, ``\\n``-style escapes, ``\\u{7f}`` for what is not printable."""
    out = ['"']
    for char in text:
        escaped = _DEBUG_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif (char != " " and not char.isprintable()) or unicodedata.category(char) in ("Mn", "Me"):
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def describe(value: Any) -> str:
    """serde's ``Unexpected`` rendering of a value in an error message (the one place that renders values).

    codex uses arbitrary-precision numbers, so every number is just ``number``; strings are Rust-debug
    quoted, so nothing rendered can break the reply's encoding."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return f"string {debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _trace(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FrameError(f"invalid type: {describe(value)}, expected struct W3cTraceContext")
    for key in ("traceparent", "tracestate"):
        member = value.get(key)
        if member is not None and not isinstance(member, str):
            raise FrameError(f"invalid type: {describe(member)}, expected a string")
    return value


def classify(value: Any) -> Message:
    if not isinstance(value, dict):
        raise FrameError("expected a JSON-RPC object")
    if "method" in value:
        method = value["method"]
        if not isinstance(method, str):
            raise FrameError(f"invalid type: {describe(method)}, expected a string")
        if "id" in value:
            rid = _request_id(value["id"])
            return Request(rid, method, value.get("params"), _trace(value.get("trace")))
        return Notification(method, value.get("params"))
    if "result" in value:
        if "id" not in value:
            raise FrameError("missing field `id`")
        return ClientReply(_request_id(value["id"]))
    if "error" not in value:
        raise FrameError("missing field `error`")
    return ClientReply(value.get("id"))


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # a lone surrogate (e.g. a non-UTF-8 file name decoded with surrogateescape) cannot go out as
            # UTF-8; as a \\u escape it still does (never an encoder crash that drops the connection)
            log.warning("frame with a lone surrogate sent with escapes")
            text = json.dumps(obj, separators=(",", ":"))
    return text


def encode_result(rid: RequestId, result: Any) -> str:
    return _dumps({"id": rid, "result": result})


def encode_error(rid: RequestId, code: int, message: str, data: Any = None) -> str:
    """An error response; ``data`` (if not None) sits between ``code`` and ``message``, as codex orders it."""
    if data is None:
        return _dumps({"error": {"code": code, "message": message}, "id": rid})
    return _dumps({"error": {"code": code, "data": data, "message": message}, "id": rid})


def encode_notification(method: str, params: Any) -> str:
    return _dumps({"method": method, "params": params})
