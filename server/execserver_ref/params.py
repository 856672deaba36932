"""Serde-like decoding of request params, reproducing codex's -32602 messages.

A schema is a tree of :class:`Kind` objects. ``Struct`` reports type errors in input key order and then the
first missing required field in declaration order, like ``#[derive(Deserialize)]`` does.

Like serde, a struct also accepts the *sequence form*: a JSON array whose elements are the fields in
declaration order (serde_json's ``from_value`` on an array calls the derived ``visit_seq``). A missing
trailing element is an error ``invalid length I, expected struct Name with K elements`` (I = index of the
first missing element) unless that field has ``#[serde(default)]`` (``Field.seq_default``) -- being an
``Option`` is not enough; extra elements give ``invalid length N, expected fewer elements in array``.
The sequence layout is codex's full field list, so it includes codex fields that the reference does not
interpret (``Field(None, …)``: positional only, their wire names are not observed).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from execserver_ref.envelope import RpcError, describe, invalid_params, invalid_request

_U64_MAX = 2**64 - 1


def type_error(value: Any, expected: str) -> RpcError:
    return invalid_params(f"invalid type: {describe(value)}, expected {expected}")


class Kind:
    expected = "a value"

    def decode(self, value: Any) -> Any:
        raise NotImplementedError


class Str(Kind):
    expected = "a string"

    def decode(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise type_error(value, self.expected)
        return value


class Bool(Kind):
    expected = "a boolean"

    def decode(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise type_error(value, self.expected)
        return value


class UInt(Kind):
    def __init__(self, name: str = "u64") -> None:
        self.expected = name

    def decode(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_error(value, self.expected)
        if isinstance(value, float) or value < 0 or value > _U64_MAX:
            raise invalid_params("invalid number")
        return value


class Opt(Kind):
    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.expected = inner.expected

    def decode(self, value: Any) -> Any:
        if value is None:
            return None
        return self.inner.decode(value)


class Seq(Kind):
    expected = "a sequence"

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def decode(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise type_error(value, self.expected)
        return [self.inner.decode(item) for item in value]


class StrMap(Kind):
    expected = "a map"

    def decode(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise type_error(value, self.expected)
        for item in value.values():
            if not isinstance(item, str):
                raise type_error(item, "a string")
        return value


class Unit(Kind):
    expected = "unit"

    def decode(self, value: Any) -> Any:
        if value is not None and value != {}:
            raise type_error(value, self.expected)
        return None


class AnyStruct(Kind):
    """A struct we accept but do not interpret (e.g. ``sandbox``): only its shape is checked."""

    def __init__(self, name: str) -> None:
        self.expected = f"struct {name}"

    def decode(self, value: Any) -> Any:
        if not isinstance(value, dict | list):
            raise type_error(value, self.expected)
        return value


class AnyValue(Kind):
    def decode(self, value: Any) -> Any:
        return value


class Enum(Kind):
    def __init__(self, name: str, variants: tuple[str, ...]) -> None:
        self.expected = f"enum {name}"
        self.variants = variants

    def decode(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise type_error(value, self.expected)
        if value not in self.variants:
            names = " or ".join(f"`{v}`" for v in self.variants)
            raise invalid_params(f"unknown variant `{value}`, expected {names}")
        return value


class Base64(Kind):
    """Standard base64 (padded), decoded to bytes; errors read like the Rust ``base64`` crate."""

    expected = "a string"

    def __init__(self, prefix: str = "", code_request: bool = False) -> None:
        self.prefix = prefix
        self.code_request = code_request

    def decode(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise type_error(value, self.expected)
        try:
            return b64decode(value)
        except ValueError as exc:
            message = self.prefix + str(exc)
            raise (invalid_request(message) if self.code_request else invalid_params(message)) from None


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    for offset, char in enumerate(text):
        if char not in _B64_ALPHABET and char != "=":
            raise ValueError(f"Invalid symbol {ord(char)}, offset {offset}.")
        if char == "=" and text[offset:].strip("=") != "":
            raise ValueError(f"Invalid symbol {ord(char)}, offset {offset}.")
    if len(text.rstrip("=")) % 4 == 1:
        raise ValueError(f"Invalid input length {len(text)}.")
    raise ValueError("Invalid padding")


class FileUri(Kind):
    """A ``file://`` URI (codex ``PathUri``), decoded to an absolute host path."""

    expected = "a string"

    def decode(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise type_error(value, self.expected)
        return parse_file_uri(value)


def parse_file_uri(value: str) -> str:
    scheme, sep, _ = value.partition(":")
    if not sep or not scheme or not scheme[0].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        raise invalid_params("invalid URI: relative URL without a base")
    if scheme.lower() != "file":
        raise invalid_params(f"unsupported path URI scheme `{scheme.lower()}`")
    parts = urlsplit(value)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise invalid_request(f"'{value}' is invalid on 'linux'")
    path = unquote(parts.path)
    if "\x00" in path:
        raise invalid_request(f"'{value}' is invalid on 'linux'")
    return path


def to_file_uri(path: str) -> str:
    from urllib.parse import quote

    return "file://" + quote(path, safe="/-._~!$&'()*+,;=:@")


class Variant(Kind):
    """An externally tagged serde enum of unit variants: a variant name, or a map with a single key."""

    expected = "string or map"

    def __init__(self, variants: tuple[str, ...]) -> None:
        self.variants = variants

    def decode(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) != 1:
                raise invalid_params("invalid value: map, expected map with a single key")
            value = next(iter(value))
        if not isinstance(value, str):
            raise type_error(value, self.expected)
        if value not in self.variants:
            names = " or ".join(f"`{v}`" for v in self.variants)
            raise invalid_params(f"unknown variant `{value}`, expected {names}")
        return value


@dataclass
class Field:
    """One struct field. ``name=None``: a codex field the reference does not interpret and whose wire
    name is not observed; it only occupies its slot in the sequence form. ``seq_default``: the field has
    ``#[serde(default)]``, so the sequence form may omit it (``required=False`` alone does not)."""

    name: str | None
    kind: Kind
    required: bool = True
    default: Any = None
    seq_default: bool = False


@dataclass
class Struct(Kind):
    name: str
    fields: list[Field] = field(default_factory=list)
    post: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        self.expected = f"struct {self.name}"
        self._by_name = {f.name: f for f in self.fields if f.name is not None}

    def decode(self, value: Any) -> dict[str, Any]:
        if isinstance(value, list):
            out = self._decode_seq(value)
        elif isinstance(value, dict):
            out = self._decode_map(value)
        else:
            raise type_error(value, self.expected)
        if self.post is not None:
            self.post(out)
        return out

    def _decode_map(self, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        by_name = self._by_name
        for key, item in value.items():
            spec = by_name.get(key)
            if spec is not None:
                out[key] = spec.kind.decode(item)
        for spec in self.fields:
            if spec.name is not None and spec.name not in out:
                if spec.required:
                    raise invalid_params(f"missing field `{spec.name}`")
                out[spec.name] = spec.default
        return out

    def _decode_seq(self, value: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        count = len(self.fields)
        for index, spec in enumerate(self.fields):
            if index < len(value):
                decoded = spec.kind.decode(value[index])
            elif spec.seq_default:
                decoded = spec.default
            else:
                elements = "element" if count == 1 else "elements"
                raise invalid_params(f"invalid length {index}, expected struct {self.name} with {count} {elements}")
            if spec.name is not None:
                out[spec.name] = decoded
        if len(value) > count:
            raise invalid_params(f"invalid length {len(value)}, expected fewer elements in array")
        return out
