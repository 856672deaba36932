"""A proxy's toxics: one ordered chain per direction, applied live to every open link."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pytoxiproxy import errors, gojson
from pytoxiproxy.toxics import DOWNSTREAM, REGISTRY, UPSTREAM, Toxic, ToxicWrapper

if TYPE_CHECKING:
    from pytoxiproxy.link import Link


class ToxicCollection:
    """Toxics of one proxy, in the order they were added (upstream chain first when listed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.chains: dict[str, list[ToxicWrapper]] = {UPSTREAM: [], DOWNSTREAM: []}
        self.links: set[Link] = set()

    def chain(self, direction: str) -> list[ToxicWrapper]:
        return list(self.chains[direction])

    def all(self) -> list[ToxicWrapper]:
        return self.chains[UPSTREAM] + self.chains[DOWNSTREAM]

    def get(self, name: str) -> ToxicWrapper | None:
        for toxic in self.all():
            if toxic.name == name:
                return toxic
        return None

    def _links(self, direction: str) -> list[Link]:
        return [link for link in self.links if link.direction == direction]

    def add_json(self, body: bytes) -> ToxicWrapper:
        """Create a toxic from an API body, with Go's checks in Go's order."""
        wrapper = parse_toxic(body, self.get)
        self.chains[wrapper.direction].append(wrapper)
        for link in self._links(wrapper.direction):
            link.add_toxic(wrapper)
        return wrapper

    def update_json(self, name: str, body: bytes) -> ToxicWrapper:
        """Update attributes/toxicity of a toxic in place; open connections pick it up at once."""
        wrapper = self.get(name)
        if wrapper is None:
            raise errors.TOXIC_NOT_FOUND
        toxic, toxicity = parse_update(wrapper, body)
        wrapper.toxic = toxic
        wrapper.toxicity = toxicity
        for link in self._links(wrapper.direction):
            link.update_toxic(wrapper)
        return wrapper

    def remove(self, name: str) -> None:
        wrapper = self.get(name)
        if wrapper is None:
            raise errors.TOXIC_NOT_FOUND
        self.chains[wrapper.direction].remove(wrapper)
        for link in self._links(wrapper.direction):
            link.remove_toxic(wrapper)

    def reset(self) -> None:
        for wrapper in self.all():
            self.remove(wrapper.name)


_UPDATE_TYPE = 'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }'


def _null_is_empty(doc: Any) -> Any:
    """Go decodes a JSON ``null`` into a struct as a no-op: the defaults stand."""
    return gojson.GoObject() if doc is None else doc


def _bad(exc: gojson.GoJSONError) -> errors.ApiError:
    return errors.BAD_REQUEST_BODY.joined(str(exc))


def parse_toxic(body: bytes, find: Any) -> ToxicWrapper:
    """Decode a new toxic: wrapper fields, stream, type, duplicate name, then attributes."""
    try:
        doc = _null_is_empty(gojson.decode_first(body))
        if not isinstance(doc, gojson.GoObject):
            raise gojson.type_error(doc, "value", "toxics.ToxicWrapper")
        found = gojson.fields(doc, ["name", "type", "stream", "toxicity", "attributes"])
        where = "struct field ToxicWrapper."
        name = gojson.as_string(found.get("name", ""), where + "name")
        kind = gojson.as_string(found.get("type", ""), where + "type")
        stream = gojson.as_string(found.get("stream", DOWNSTREAM), where + "stream")
        toxicity = gojson.as_float32(found["toxicity"], where + "toxicity") if "toxicity" in found else 1.0
        attributes = found.get("attributes")
        if attributes is not None and not isinstance(attributes, gojson.GoObject):
            raise gojson.type_error(attributes, where + "attributes", "toxics.NoopToxic")
    except gojson.GoJSONError as exc:
        raise _bad(exc) from exc
    direction = stream.lower()
    if direction not in (UPSTREAM, DOWNSTREAM):
        raise errors.INVALID_STREAM
    if not name:
        name = f"{kind}_{stream}"
    toxic_cls = REGISTRY.get(kind)
    if toxic_cls is None:
        raise errors.INVALID_TOXIC_TYPE
    if find(name) is not None:
        raise errors.TOXIC_ALREADY_EXISTS
    toxic = _build(toxic_cls, toxic_cls(), attributes)
    return ToxicWrapper(name, kind, stream, toxicity, toxic, direction)


def parse_update(wrapper: ToxicWrapper, body: bytes) -> tuple[Toxic, float]:
    """Decode an update: only ``attributes`` and ``toxicity`` change; missing ones keep their values."""
    try:
        doc = _null_is_empty(gojson.decode_first(body))
        if not isinstance(doc, gojson.GoObject):
            raise gojson.type_error(doc, "value", _UPDATE_TYPE)
        found = gojson.fields(doc, ["attributes", "toxicity"])
        toxicity = wrapper.toxicity
        if "toxicity" in found:
            toxicity = gojson.as_float32(found["toxicity"], "struct field .toxicity")
    except gojson.GoJSONError as exc:
        raise _bad(exc) from exc
    toxic_cls = type(wrapper.toxic)
    return _build(toxic_cls, toxic_cls(wrapper.toxic.attributes()), found.get("attributes")), toxicity


def _build(toxic_cls: type[Toxic], toxic: Toxic, attributes: Any) -> Toxic:
    try:
        if attributes is not None:
            go_struct = "toxics." + toxic_cls.go_struct
            if not isinstance(attributes, gojson.GoObject):
                raise gojson.type_error(attributes, "struct field .attributes", go_struct)
            for name, value in gojson.fields(attributes, list(toxic_cls.attribute_names)).items():
                where = f"struct field {toxic_cls.go_struct}.attributes.{name}"
                toxic.values[name] = gojson.as_int64(value, where, toxic_cls.go_type)
    except gojson.GoJSONError as exc:
        raise _bad(exc) from exc
    # Every integer is accepted, as in Go (clients rely on that); values Go would crash or hang on once
    # data flows are made safe by each toxic at data time (see toxiproxy/README.md, "Deviations").
    return toxic
