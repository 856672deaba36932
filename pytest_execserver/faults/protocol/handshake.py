"""The HTTP upgrade as the proxy sees it: where each head ends, whether it was a 101, what was negotiated.

Both heads are forwarded byte-for-byte; the proxy only reads the status line and the server's
``Sec-WebSocket-Extensions`` to know whether frames follow and whether they may be compressed
(permessage-deflate, RFC 7692). A decoder per direction mirrors the receiving peer's inflater, with that
peer's context takeover and window size, so the proxy can read compressed JSON without changing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from websockets.exceptions import InvalidHeader
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.headers import parse_extension

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Negotiated:
    """What the server's answer to the upgrade says: frames follow (``upgraded``) and the deflate parameters."""

    upgraded: bool
    deflate: dict[str, str | None] | None = None

    def decoder(self, *, from_client: bool) -> PerMessageDeflate | None:
        """The inflater of the peer receiving frames sent by the client (``from_client``) or by the server."""
        if self.deflate is None:
            return None
        p = self.deflate
        client_nct = "client_no_context_takeover" in p
        server_nct = "server_no_context_takeover" in p
        client_bits = int(p.get("client_max_window_bits") or 15)
        server_bits = int(p.get("server_max_window_bits") or 15)
        if from_client:  # the server decodes what the client compressed
            return PerMessageDeflate(client_nct, server_nct, client_bits, server_bits)
        return PerMessageDeflate(server_nct, client_nct, server_bits, client_bits)


def split_head(buffer: bytes) -> tuple[bytes, bytes] | None:
    """``(head, rest)`` once ``buffer`` holds a whole HTTP head, else ``None``."""
    end = buffer.find(HEAD_END)
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise ValueError(f"HTTP head longer than {MAX_HEAD} bytes")
        return None
    end += len(HEAD_END)
    return buffer[:end], buffer[end:]


def read_response_head(head: bytes) -> Negotiated:
    """Whether the server switched protocols, and the permessage-deflate parameters it accepted."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        return Negotiated(False)
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() != "sec-websocket-extensions":
            continue
        try:
            extensions = parse_extension(value.strip())
        except InvalidHeader:
            continue
        for ext_name, params in extensions:
            if ext_name == "permessage-deflate":
                return Negotiated(True, dict(params))
    return Negotiated(True)
