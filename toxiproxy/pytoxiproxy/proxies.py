"""All proxies by name, plus creating them from API bodies and /populate lists."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pytoxiproxy import errors, gojson
from pytoxiproxy.log import Logger
from pytoxiproxy.proxy import Proxy

_POPULATE_TYPE = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'


@dataclass
class ProxySpec:
    """Fields of a proxy as decoded from JSON."""

    name: str = ""
    listen: str = ""
    upstream: str = ""
    enabled: bool | None = None


def parse_proxy(
    obj: Any, where: str, defaults: ProxySpec | None = None, fields: str = "Proxy.", enabled_field: str = "Proxy."
) -> ProxySpec:
    """Decode one proxy object with Go's typing rules (raises GoJSONError).

    ``fields``/``enabled_field`` prefix the field names in type errors: ``/populate`` decodes into an
    anonymous struct embedding ``Proxy`` with its own ``enabled`` (Go: ``.Proxy.name``, ``.enabled``).
    """
    spec = ProxySpec(**vars(defaults)) if defaults else ProxySpec()
    if obj is None:
        return spec  # Go: null into a struct changes nothing
    if not isinstance(obj, gojson.GoObject):
        raise gojson.type_error(obj, "value", where)
    found = gojson.fields(obj, ["name", "listen", "upstream", "enabled"])
    for key in ("name", "listen", "upstream"):
        if key in found:
            setattr(spec, key, gojson.as_string(found[key], f"struct field {fields}{key}"))
    if "enabled" in found:
        spec.enabled = gojson.as_bool(found["enabled"], f"struct field {enabled_field}enabled")
    return spec


class ProxyCollection:
    """The server's proxies (Go's ProxyCollection)."""

    def __init__(self, log: Logger, rng: random.Random) -> None:
        self.log = log
        self.rng = rng
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    def new_proxy(self, spec: ProxySpec) -> Proxy:
        return Proxy(spec.name, spec.listen, spec.upstream, self.log, self.rng)

    async def create(self, body: bytes) -> Proxy:
        """POST /proxies: name and upstream required; enabled defaults to true."""
        try:
            spec = parse_proxy(gojson.decode_first(body), "toxiproxy.Proxy", ProxySpec(enabled=True))
        except gojson.GoJSONError as exc:
            raise errors.BAD_REQUEST_BODY.joined(str(exc)) from exc
        if not spec.name:
            raise errors.MISSING_FIELD.joined("name")
        if not spec.upstream:
            raise errors.MISSING_FIELD.joined("upstream")
        if spec.name in self.proxies:
            raise errors.PROXY_ALREADY_EXISTS
        proxy = self.new_proxy(spec)
        if spec.enabled:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def update(self, name: str, body: bytes) -> Proxy:
        proxy = self.get(name)
        current = ProxySpec(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
        try:
            spec = parse_proxy(gojson.decode_first(body), "toxiproxy.Proxy", current)
        except gojson.GoJSONError as exc:
            raise errors.BAD_REQUEST_BODY.joined(str(exc)) from exc
        await proxy.update(spec.listen, spec.upstream, bool(spec.enabled))
        return proxy

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def clear(self) -> None:
        for name in list(self.proxies):
            await self.remove(name)

    async def populate(self, body: bytes) -> tuple[list[Proxy], errors.ApiError | None]:
        """Create or replace proxies from a list; returns those handled and the first error."""
        try:
            doc = gojson.decode_first(body)
            if doc is None:
                doc = []  # Go: null into a slice leaves it empty
            if not isinstance(doc, list) or isinstance(doc, gojson.GoObject):
                raise gojson.type_error(doc, "value", _POPULATE_TYPE)
            specs = [parse_proxy(item, "toxiproxy.Proxy", fields=".Proxy.", enabled_field=".") for item in doc]
        except gojson.GoJSONError as exc:
            return [], errors.BAD_REQUEST_BODY.joined(str(exc))
        for index, spec in enumerate(specs, start=1):
            if not spec.name:
                return [], errors.MISSING_FIELD.joined(f"name at proxy {index}")
            if not spec.upstream:
                return [], errors.MISSING_FIELD.joined(f"upstream at proxy {index}")
        done: list[Proxy] = []
        for spec in specs:
            try:
                done.append(await self._add_or_replace(self.new_proxy(spec), spec.enabled is not False))
            except errors.ApiError as exc:
                return done, exc
        return done, None

    async def _add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        """Go's AddOrReplace: an unchanged proxy (resolved address, upstream) is kept and reported."""
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if not await existing.differs(proxy.listen, proxy.upstream):
                return existing
            await existing.stop()
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy
