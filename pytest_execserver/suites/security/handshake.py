"""One websocket upgrade request sent byte for byte, and the server's answer (status and body).

A websocket client library normalises what it sends (header values, the Origin it adds), and a security
case must send exactly what it means, so this builds the request itself (:func:`upgrade_request`, no
I/O), sends it on a fresh loopback socket, and parses the answer (:func:`parse_response`, no I/O).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from urllib.parse import urlsplit

from pytest_execserver.suites.security.tokens import Verdict

TIMEOUT_S = 5.0
_MAX_RESPONSE = 64 * 1024


class HandshakeError(AssertionError):
    """The server's answer was not an HTTP response (or never came)."""


def upgrade_request(host: str, path: str = "/", headers: dict[str, str] | None = None) -> bytes:
    """The bytes of a websocket upgrade ``GET``; ``headers`` are added verbatim (an empty value stays empty)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_response(data: bytes) -> tuple[Verdict, bool] | None:
    """``(verdict, complete)`` from the bytes read so far, or ``None`` if the head is not complete yet."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HandshakeError(f"not an HTTP response: {lines[0]!r}")
    status = int(parts[1])
    if status == 101:
        return Verdict(101), True
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    if length is not None and len(body) < length:
        return Verdict(status, body.decode(errors="replace")), False
    text = body[:length] if length is not None else body
    return Verdict(status, text.decode(errors="replace")), length is not None


async def try_upgrade(url: str, headers: dict[str, str] | None = None, query: str = "",
                      timeout_s: float = TIMEOUT_S) -> Verdict:
    """Send one upgrade request to ``url`` (``ws://127.0.0.1:PORT``) and return the server's verdict."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout_s)
    try:
        writer.write(upgrade_request(parts.netloc, "/" + query, headers))
        await writer.drain()
        data = b""
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await reader.read(4096)
                parsed = parse_response(data + chunk)
                data += chunk
                if parsed is not None and (parsed[1] or not chunk):
                    return parsed[0]
                if not chunk:
                    raise HandshakeError(f"connection closed before a response; got {data[:200]!r}")
                if len(data) > _MAX_RESPONSE:
                    raise HandshakeError(f"response head over {_MAX_RESPONSE} bytes")
    except TimeoutError:
        raise HandshakeError(f"no complete HTTP response within {timeout_s:g} s") from None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def http_get(url: str, path: str, timeout_s: float = TIMEOUT_S) -> Verdict:
    """A plain ``GET path`` (no upgrade) to the server of ``url``; its status and body."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout_s)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(_MAX_RESPONSE), timeout_s)
        while True:
            parsed = parse_response(data)
            if parsed is not None and parsed[1]:
                return parsed[0]
            chunk = await asyncio.wait_for(reader.read(_MAX_RESPONSE), timeout_s)
            if not chunk:
                if parsed is None:
                    raise HandshakeError(f"no HTTP response to GET {path}: {data[:200]!r}")
                return parsed[0]
            data += chunk
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
