"""JSON-RPC framing: parse a websocket frame, classify it, and encode responses, errors, notifications.

Mirrors codex: server frames carry no ``jsonrpc`` member; unparsable frames are answered with ``id: -1``
and code -32600; request ids are i64 or strings.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterator
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
    """serde's (line, column) of index ``pos``: columns count UTF-8 bytes, not characters."""
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    segment = text[start:pos]
    col = len(segment) if segment.isascii() else len(segment.encode("utf-8", "surrogateescape"))
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


def _brackets(text: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of every ``[ { ] }`` of ``text`` that is not inside a string."""
    in_string = escaped = False
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
        elif char in "[{]}":
            yield index, char


def _too_deep(text: str) -> int | None:
    """Index of the bracket that exceeds the nesting limit, if any (ignores brackets inside strings)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for index, char in _brackets(text):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return index
        else:
            depth -= 1
    return None


_LITERALS = {"n": "null", "t": "true", "f": "false"}
_JSON_WS = " \t\n\r"  # JSON's whitespace (str.strip() would also strip \x0b, \x0c, \x1c…)


def _innermost(text: str, pos: int) -> str | None:
    """The innermost ``[`` or ``{`` still open at ``pos`` (brackets inside strings ignored)."""
    stack: list[str] = []
    for _, char in _brackets(text[:pos]):
        if char in "[{":
            stack.append(char)
        elif stack:
            stack.pop()
    return stack[-1] if stack else None


def _eof_context(text: str, pos: int, msg: str) -> str:
    """What serde was parsing when the text ended: ``a list``, ``an object`` or ``a value``.

    A value is expected after ``,`` or ``:`` (and at the top level); right after ``[`` or after an element
    serde is still inside the list, right after ``{``, a key or a member inside the object."""
    before = text[:pos].rstrip(_JSON_WS)
    last = before[-1:] if before else ""
    if last in (",", ":") or (not last and msg.startswith("Expecting value")):
        return "a value"
    container = _innermost(text, pos)
    if container == "[":
        return "a list"
    if container == "{":
        return "an object"
    return "a value"


def _serde_reason(exc: json.JSONDecodeError) -> str:
    text, pos = exc.doc, exc.pos
    line, col = _position(text, pos)
    msg = exc.msg
    at_eof = pos >= len(text.rstrip(_JSON_WS))
    if msg == "Extra data":
        return f"trailing characters at line {line} column {col + 1}"
    end_line, end_col = _position(text, len(text))
    if msg.startswith("Unterminated string"):  # Python points at the opening quote, serde at the end
        return f"EOF while parsing a string at line {end_line} column {end_col}"
    literal = _LITERALS.get(text[pos : pos + 1])
    if literal is not None and msg.startswith("Expecting value") and literal.startswith(text[pos:]):
        # a literal cut short by the end of the text
        return f"EOF while parsing a value at line {end_line} column {end_col}"
    if at_eof:
        return f"EOF while parsing {_eof_context(text, pos, msg)} at line {line} column {col}"
    if msg.startswith("Expecting property name"):
        return f"key must be a string at line {line} column {col + 1}"
    if msg.startswith("Expecting ':'"):
        return f"expected `:` at line {line} column {col + 1}"
    if msg.startswith("Expecting ','"):
        closer = "]" if _innermost(text, pos) == "[" else "}"
        return f"expected `,` or `{closer}` at line {line} column {col + 1}"
    if msg.startswith("Invalid control character"):
        return f"control character (\\u0000-\\u001F) found while parsing a string at line {line} column {col + 1}"
    if msg.startswith("Invalid \\u"):  # serde reads four characters after `\u`, then judges them
        last = text.rfind("\\u", 0, pos + 2) + 5
        # a whole escape (four hex digits, e.g. a high surrogate) that the text ends right after: serde
        # accepts the escape, then runs out of input looking for the rest of the string
        if last >= len(text) or (last + 1 == len(text) and _hex4(text, last - 3) is not None):
            return f"EOF while parsing a string at line {end_line} column {end_col}"
        line, col = _position(text, last)
        return f"invalid escape at line {line} column {col + 1}"
    if msg.startswith("Invalid \\escape"):  # Python points at the backslash, serde at the character after it
        if pos + 1 >= len(text):
            return f"EOF while parsing a string at line {end_line} column {end_col}"
        line, col = _position(text, pos + 1)
        return f"invalid escape at line {line} column {col + 1}"
    if literal is not None:
        # serde reads the literal byte by byte and fails at the first byte that differs
        miss = next((k for k in range(1, len(literal)) if text[pos + k : pos + k + 1] != literal[k]), 1)
        return f"expected ident at line {line} column {col + miss + 1}"
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


def _string_spans(text: str) -> list[tuple[int, int]]:
    """(opening quote, closing quote or -1) of every JSON string in ``text``, scanning escapes."""
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(text):
        if text[index] != '"':
            index += 1
            continue
        start = index
        index += 1
        while index < len(text) and text[index] != '"':
            index += 2 if text[index] == "\\" else 1
        spans.append((start, index if index < len(text) else -1))
        index += 1
    return spans


_DIGITS = "0123456789"


def _number_problem(text: str) -> tuple[int, str] | None:
    """serde's error for the first malformed number in a value position (Python's json reads ``1.`` as 1
    followed by ``.``, ``01`` as 0 followed by 1, and rejects ``-`` without saying why), as (the number's
    start, reason); None if every number is well formed. Only called on frames that already failed."""
    stack: list[str] = []
    expect_value = True
    in_string = escaped = False
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            expect_value = False
        elif char in "[{":
            stack.append(char)
            expect_value = char == "["
        elif char == ":":
            expect_value = True
        elif char == ",":
            expect_value = bool(stack) and stack[-1] == "["
        elif char in "]}":
            if stack:
                stack.pop()
            expect_value = False
        elif char in _JSON_WS:
            pass
        elif expect_value and (char == "-" or char in _DIGITS):
            problem, index = _scan_number(text, index)
            if problem is not None:
                return problem
            expect_value = False
            continue
        else:
            expect_value = False
        index += 1
    return None


def _scan_number(text: str, start: int) -> tuple[tuple[int, str] | None, int]:
    """Validate the number at ``start`` like serde: (problem or None, index after the number)."""
    length = len(text)

    def eof() -> tuple[tuple[int, str], int]:
        line, col = _position(text, length)
        return (start, f"EOF while parsing a value at line {line} column {col}"), length

    def invalid(at: int) -> tuple[tuple[int, str], int]:
        line, col = _position(text, at)
        return (start, f"invalid number at line {line} column {col + 1}"), at

    def digits(at: int) -> int:
        while at < length and text[at] in _DIGITS:
            at += 1
        return at

    index = start
    if text[index] == "-":
        index += 1
        if index == length:
            return eof()
        if text[index] not in _DIGITS:
            return invalid(index)
    if text[index] == "0":
        index += 1
        if index < length and text[index] in _DIGITS:
            return invalid(index)
    else:
        index = digits(index)
    if index < length and text[index] == ".":
        index += 1
        if index == length:
            return eof()
        if text[index] not in _DIGITS:
            return invalid(index)
        index = digits(index)
    if index < length and text[index] in "eE":
        index += 1
        if index < length and text[index] in "+-":
            index += 1
        if index == length:
            return eof()
        if text[index] not in _DIGITS:
            return invalid(index)
        index = digits(index)
    return None, index


def parse_frame(data: str | bytes) -> Message:
    """Decode one websocket frame into a message, or raise :class:`FrameError`."""
    bad_bytes = False
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # a binary frame that is not UTF-8: serde reads bytes, so a bad byte outside a string is just an
            # unexpected character, and one inside a string is reported at the string's closing quote
            text = data.decode("utf-8", "surrogateescape")  # each bad byte: one char in U+DC80..U+DCFF
            bad_bytes = True
    else:
        text = data
    # serde reads left to right and stops at the first problem, so of the problems found here (too deep,
    # a lone surrogate, a syntax error) the one that starts first is reported
    problems: list[tuple[int, str]] = []
    deep = _too_deep(text)
    if deep is not None:
        line, col = _position(text, deep)
        problems.append((deep, f"recursion limit exceeded at line {line} column {col + 1}"))
    if _SURROGATE_ESCAPE.search(text):
        surrogate = _surrogate_problem(text)
        if surrogate is not None:
            line, col = _position(text, surrogate[1])
            problems.append((surrogate[1], f"{surrogate[0]} at line {line} column {col + 1}"))
    if bad_bytes:
        for opening, closing in _string_spans(text):
            if closing != -1 and any("\udc80" <= c <= "\udcff" for c in text[opening:closing]):
                line, col = _position(text, closing)
                problems.append((closing, f"invalid unicode code point at line {line} column {col + 1}"))
                break
    # codex deserializes the first JSON value, then classifies it (a non-object is rejected at once), and
    # only then checks that nothing but whitespace follows it
    start = len(text) - len(text.lstrip(_JSON_WS))
    value: Any = None
    end = len(text)
    parsed = False
    try:
        value, end = _decoder.raw_decode(text, start)
        parsed = True
    except json.JSONDecodeError as exc:
        # Python points at an unterminated string's opening quote; serde finds the problem at the end
        where = len(text) if exc.msg.startswith("Unterminated string") else exc.pos
        problems.append((where, _serde_reason(exc)))
    except _DupKey as exc:
        problems.append((len(text), f"duplicate JSON object key `{exc.key}` at line 1 column {len(text)}"))
    except (ValueError, RecursionError):
        problems.append((len(text), "expected value at line 1 column 1"))
    rest = text[end:] if parsed else ""
    if problems or not parsed or not isinstance(value, dict) or rest.strip(_JSON_WS):
        number = _number_problem(text)  # the slow scan, only for frames that fail anyway
        if number is not None:
            problems.append(number)
    problems = [(pos, reason) for pos, reason in problems if pos < end or not parsed]
    if problems:
        # earliest first; at the same place a number's own error is the precise one
        raise FrameError(min(problems, key=lambda p: (p[0], not p[1].startswith(("invalid number", "EOF"))))[1])
    message = classify(value)
    if rest.strip(_JSON_WS):
        trailing = end + len(rest) - len(rest.lstrip(_JSON_WS))
        line, col = _position(text, trailing)
        raise FrameError(f"trailing characters at line {line} column {col + 1}")
    return message


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
