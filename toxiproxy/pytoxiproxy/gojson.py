"""JSON the way Go's encoding/json reads and writes it: first value only, case-insensitive keys,
strict integer fields, Go-worded errors, compact HTML-escaped output."""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


class RawNumber(str):
    """A JSON number kept as its source text, so errors can quote it like Go."""


class GoObject(list[tuple[str, Any]]):
    """A JSON object kept as ordered (key, value) pairs, duplicates included."""


class GoJSONError(Exception):
    """A decode error worded like Go's encoding/json."""


def _describe(doc: str, pos: int, msg: str) -> str:
    if pos >= len(doc.rstrip()):
        return "unexpected EOF"
    char = doc[pos]
    shown = "'\\''" if char == "'" else f"'{char}'"
    if msg.startswith("Expecting value"):
        return f"invalid character {shown} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {shown} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {shown} after object key"
    if "delimiter" in msg and doc.rfind("{", 0, pos) > doc.rfind("[", 0, pos):
        return f"invalid character {shown} after object key:value pair"
    if "delimiter" in msg:
        return f"invalid character {shown} after array element"
    if "control" in msg:
        return f"invalid character {shown} in string literal"
    return f"invalid character {shown}"


def decode_first(raw: bytes) -> Any:
    """Decode the first JSON value of a body like ``json.NewDecoder(r).Decode``: trailing data is ignored."""
    try:
        doc = raw.decode("utf-8", errors="replace")
    except Exception as exc:  # pragma: no cover - errors="replace" never raises
        raise GoJSONError(str(exc)) from exc
    start = len(doc) - len(doc.lstrip(" \t\r\n"))
    if start >= len(doc):
        raise GoJSONError("EOF")
    decoder = json.JSONDecoder(
        object_pairs_hook=GoObject, parse_int=RawNumber, parse_float=RawNumber, parse_constant=_reject
    )
    try:
        value, _ = decoder.raw_decode(doc, start)
    except json.JSONDecodeError as exc:
        raise GoJSONError(_describe(doc, exc.pos, exc.msg)) from exc
    return value


def _reject(name: str) -> Any:
    raise json.JSONDecodeError("Expecting value", name, 0)


def kind(value: Any) -> str:
    """Go's name for a JSON value's kind in unmarshal errors."""
    if isinstance(value, GoObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, RawNumber):
        return "number"
    if isinstance(value, bool):
        return "bool"
    return "string"


_NUMERIC = frozenset({"int", "int64", "float32", "float64"})


def type_error(value: Any, where: str, go_type: str) -> GoJSONError:
    """Go's UnmarshalTypeError: a number's text is quoted only when the target is numeric."""
    shown = f"number {value}" if isinstance(value, RawNumber) and go_type in _NUMERIC else kind(value)
    return GoJSONError(f"json: cannot unmarshal {shown} into Go {where} of type {go_type}")


def fields(obj: GoObject, names: list[str]) -> dict[str, Any]:
    """Map each wanted field to its value: keys match case-insensitively, the last one wins."""
    wanted = {name.lower(): name for name in names}
    found: dict[str, Any] = {}
    for key, value in obj:
        name = wanted.get(key.lower())
        if name is not None and value is not None:
            found[name] = value
    return found


def as_string(value: Any, where: str) -> str:
    if isinstance(value, str) and not isinstance(value, RawNumber):
        return value
    raise type_error(value, where, "string")


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise type_error(value, where, "bool")


def as_int64(value: Any, where: str, go_type: str = "int64") -> int:
    if isinstance(value, RawNumber) and _INT_RE.fullmatch(value):
        number = int(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    raise type_error(value, where, go_type)


def as_float32(value: Any, where: str) -> float:
    if isinstance(value, RawNumber):
        number = float(value)
        if math.isfinite(number) and abs(number) <= _FLOAT32_MAX:
            return float(struct.unpack("f", struct.pack("f", number))[0])
    raise type_error(value, where, "float32")


def float32_json(value: float) -> float | int:
    """The value Go prints for a float32: integral ones without a fraction, others in shortest form."""
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == value:
            return float(text)
    return value


def dumps(obj: Any) -> str:
    """Compact JSON with Go's HTML escaping."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
