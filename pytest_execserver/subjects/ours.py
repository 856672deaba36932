"""Our own :class:`~pytest_execserver.client.ExecClient` as a client under test (``ours``, ``ours:legacy-read``).

The subject keeps one client (hence one session) for its whole life and runs each request as one process.
It records into a *private* history: checks on a subject read the server's journal and the Outcome only,
so our client gets no advantage over a client written in another language.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pytest_execserver.checks.history import History
from pytest_execserver.client import ExecClient, ExecServerError, TransportError, connect
from pytest_execserver.subjects.base import ClientFailure, Outcome, RunRequest, separate_streams


class OursSubject:
    """Drives our :class:`ExecClient` in one mode through ``url`` (the proxy's)."""

    merged_streams = False
    delivered_view = staticmethod(separate_streams)  # stdout and stderr kept apart, byte-exact

    def __init__(self, url: str, mode: str = "event-stream", **client_kwargs: Any) -> None:
        self.url = url
        self.mode = mode
        self.name = "ours" if mode == "event-stream" else f"ours:{mode}"
        self.history = History()  # private: never read by the subject checks
        self.client_kwargs = client_kwargs
        self.client: ExecClient | None = None

    async def _client(self) -> ExecClient:
        if self.client is not None and self.client.failure is not None:  # its session is lost (reported)
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None  # the next run opens a new session
        if self.client is None:
            kwargs = {"request_timeout_s": 10.0, "client_id": self.name, **self.client_kwargs}
            self.client = await connect(self.url, mode=self.mode, history=self.history, **kwargs)
        return self.client

    async def run(self, request: RunRequest) -> Outcome:
        """Start ``request.argv`` and wait for it; every failure becomes the Outcome's ``error``."""
        delivered: tuple[bytes, bytes] = (b"", b"")
        try:
            client = await self._client()
            # within the run's deadline: a start whose answer is lost is reported (outcome unknown) by then
            try:
                handle = await asyncio.wait_for(
                    client.start(list(request.argv), cwd=request.cwd, env=request.env, tty=request.tty,
                                 pipe_stdin=request.stdin is not None), request.timeout_ms / 1000)
            except TimeoutError:
                raise TimeoutError(f"process/start got no answer within the run's timeout_ms {request.timeout_ms}: "
                                   "outcome unknown (not sent again)") from None
            if request.stdin is not None:
                await handle.write(request.stdin, close_stdin=True)
            try:
                result = await handle.wait(request.timeout_ms / 1000)
            except BaseException:
                partial = handle.result()
                delivered = (partial.stdout, partial.stderr)
                if not handle.closed:  # bounded: the connection may be down
                    with contextlib.suppress(TransportError, ExecServerError, TimeoutError):
                        await asyncio.wait_for(handle.terminate(), 1.0)
                raise
            return Outcome(result.exit_code, result.stdout, result.stderr)
        except (TransportError, ExecServerError, TimeoutError, OSError) as exc:
            return Outcome(None, delivered[0], delivered[1], ClientFailure(type(exc).__name__, str(exc)))

    def pause_consumer(self, ms: float) -> None:
        """Receiver lag, the client-side way (the harness uses it for ``receiver_lag`` on ours)."""
        if self.client is not None:
            self.client.pause_consumer(ms)

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
