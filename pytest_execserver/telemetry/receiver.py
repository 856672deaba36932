"""An OTLP/HTTP trace receiver on loopback: where fixture-started servers export their spans.

:class:`OtlpReceiver` runs an aiohttp server in a background thread. ``POST /v1/traces`` takes an
``ExportTraceServiceRequest`` (``application/x-protobuf``, or ``application/json``; optionally gzip), keeps
its spans for the analysis, and -- when the user configured a collector with the standard ``OTEL_*``
variables -- forwards the request unchanged to that collector, so the server's spans reach it as well as
the client's (which the client's own exporter sends there).

:func:`shared` is the process-wide receiver the launcher points servers at (:func:`server_env`).
"""

from __future__ import annotations

import asyncio
import atexit
import gzip
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from pytest_execserver.telemetry.spans import SpanRecord, from_otlp

log = logging.getLogger("pytest_execserver.telemetry")

TRACES_PATH = "/v1/traces"
#: servers started by the harness flush their span batches this often (ms), so a test's spans arrive soon
SERVER_BSP_SCHEDULE_DELAY_MS = 50
MAX_SPANS = 200_000  # keep memory bounded on long runs: the oldest spans are dropped first


class OtlpError(Exception):
    """A request the receiver cannot decode."""


def decode_request(body: bytes, content_type: str, content_encoding: str = "") -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP trace export body (sans-I/O)."""
    if content_encoding.lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise OtlpError(f"bad gzip body: {exc}") from exc
    elif content_encoding not in ("", "identity"):
        raise OtlpError(f"unsupported Content-Encoding {content_encoding!r}")
    message = ExportTraceServiceRequest()
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            json_format.Parse(body.decode(), message, ignore_unknown_fields=True)
        elif kind in ("application/x-protobuf", "application/protobuf", ""):
            message.ParseFromString(body)
        else:
            raise OtlpError(f"unsupported Content-Type {content_type!r}")
    except (ValueError, json_format.ParseError, DecodeError) as exc:
        raise OtlpError(f"cannot decode ExportTraceServiceRequest: {exc}") from exc
    return message


def user_collector(env: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]] | None:
    """The user's OTLP/HTTP traces URL and headers from the standard variables, or None."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    if protocol == "grpc":
        return None  # the receiver forwards OTLP/HTTP bodies only
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not url and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        url = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + TRACES_PATH
    if not url:
        return None
    headers: dict[str, str] = {}
    raw = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return url, headers


class OtlpReceiver:
    """OTLP/HTTP receiver on ``127.0.0.1`` (port 0) in its own thread; :meth:`spans` is thread-safe."""

    def __init__(self, forward: tuple[str, dict[str, str]] | None = None) -> None:
        self.forward = forward
        self.endpoint = ""
        self.requests = 0
        self.forwarded = 0
        self.forward_errors: list[str] = []
        self._spans: list[SpanRecord] = []
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 10.0) -> str:
        """Start serving; return the base endpoint ``http://127.0.0.1:<port>``."""
        if self._thread is not None:
            return self.endpoint
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="execserver-otlp-receiver", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s) or errors:
            raise RuntimeError(f"OTLP receiver did not start: {errors[0] if errors else 'timeout'}")
        return self.endpoint

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(TRACES_PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.endpoint = f"http://127.0.0.1:{port}"

    async def _cleanup(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        content_type = request.headers.get("Content-Type", "")
        try:
            message = decode_request(body, content_type, request.headers.get("Content-Encoding", ""))
        except OtlpError as exc:
            return web.Response(status=400, text=str(exc))
        records = from_otlp(message)
        if self.forward is not None:  # first: once the analysis sees a span, the user's collector has it
            await self._forward(body, request.headers)
        with self._cond:
            self.requests += 1
            self._spans.extend(records)
            if len(self._spans) > MAX_SPANS:
                del self._spans[: len(self._spans) - MAX_SPANS]
            self._cond.notify_all()
        if content_type.startswith("application/json"):
            return web.Response(body=b"{}", content_type="application/json")
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    async def _forward(self, body: bytes, incoming: Mapping[str, str]) -> None:
        assert self.forward is not None
        url, extra = self.forward
        headers = {k: v for k, v in incoming.items() if k.lower() in ("content-type", "content-encoding")}
        headers.update(extra)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    raise OtlpError(f"HTTP {response.status}")
            self.forwarded += 1
        except (aiohttp.ClientError, TimeoutError, OtlpError) as exc:
            self.forward_errors.append(f"{url}: {exc!r}")
            log.warning("forwarding server spans to %s failed: %r", url, exc)

    # ------------------------------------------------------------------ reading

    def spans(self, predicate: Callable[[SpanRecord], bool] | None = None) -> list[SpanRecord]:
        with self._cond:
            return [s for s in self._spans if predicate is None or predicate(s)]

    def wait_for(self, condition: Callable[[list[SpanRecord]], bool], timeout_s: float) -> bool:
        """Wait until ``condition(all spans)`` holds (True) or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not condition(self._spans):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def forget(self, trace_ids: set[str], before_ns: int | None = None) -> None:
        """Drop the spans of ``trace_ids`` (already analysed) and those that began before ``before_ns``."""
        with self._cond:
            self._spans = [
                s for s in self._spans
                if s.trace_id not in trace_ids and (before_ns is None or s.start_ns > before_ns)
            ]  # fmt: skip


# ---------------------------------------------------------------------- the process-wide receiver

_SHARED: OtlpReceiver | None = None
_SHARED_LOCK = threading.Lock()
#: server kinds known to export spans when given the OTLP variables (others are waited for not at all)
EXPORTING_KINDS = {"ref", "codex"}
_expecting = False


def shared() -> OtlpReceiver:
    """The process-wide receiver (started on first use, stopped at exit)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            receiver = OtlpReceiver(forward=user_collector())
            receiver.start()
            atexit.register(receiver.stop)
            _SHARED = receiver
        return _SHARED


def running() -> OtlpReceiver | None:
    """The process-wide receiver if it was started."""
    return _SHARED


def expecting_server_spans() -> bool:
    """Whether a server that exports its spans was pointed at the shared receiver."""
    return _expecting


def codex_otel_config(endpoint: str) -> str:
    """A ``config.toml`` ``[otel]`` table that makes codex export its traces to ``endpoint`` (codex 0.169.0
    ignores ``OTEL_EXPORTER_OTLP_ENDPOINT``: "No OTEL exporter enabled in settings" without it)."""
    return (
        "[otel]\n"
        'environment = "pytest-execserver"\n'
        f'trace_exporter = {{ otlp-http = {{ endpoint = "{endpoint}{TRACES_PATH}", protocol = "binary" }} }}\n'
    )


def server_env(kind: str, scratch: Path | None = None) -> dict[str, str]:
    """OTEL variables that make a server under test export its spans to the shared receiver.

    Set explicitly (they override the user's ``OTEL_*``, which the confinement passes through): the
    receiver forwards to the user's collector itself. For codex, which reads its telemetry settings from
    ``$CODEX_HOME/config.toml`` only, that file is written into ``scratch`` (unless one is there already).
    ``PYTEST_EXECSERVER_OTLP_RECEIVER=0`` turns all this off.
    """
    global _expecting
    if os.environ.get("PYTEST_EXECSERVER_OTLP_RECEIVER", "1") == "0":
        return {}
    endpoint = shared().endpoint
    if kind in EXPORTING_KINDS:
        _expecting = True
    if kind == "codex" and scratch is not None:
        config = scratch / ".codex" / "config.toml"
        if not config.exists():
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(codex_otel_config(endpoint))
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + TRACES_PATH,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "",
        "OTEL_BSP_SCHEDULE_DELAY": str(SERVER_BSP_SCHEDULE_DELAY_MS),
    }
