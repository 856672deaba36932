"""Scenario context: records normalized observations and checks them against codex-observed values.

A scenario is ``async def scenario(ctx: Ctx) -> None``. It drives one server through raw websocket
connections and calls :meth:`Ctx.expect` / :meth:`Ctx.rpc` for everything it observes. Each observation
is normalized (see ``differences.py``) and appended to ``ctx.transcript``.

* Per-server tests (``strict``) compare every observation with the expected value written in the
  scenario (what ``codex exec-server`` of the release the server speaks does, ``ctx.version``) and fail
  listing *all* mismatches at the end.
* Pairwise tests run the scenario against both servers and compare the two transcripts.

The reference server follows the codex release under test: when codex (``codex_binary()``, which honours
``EXECSERVER_CODEX_BIN``) is another release than the reference's default, a reference context runs on a
reference server started with ``--codex-version`` of that release.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import hand_to_server
from pytest_execserver.servers.launch import ServerProcess

from .differences import normalize
from .rawclient import DEFAULT_TIMEOUT_S, Frame, RawClient, RawClosed, RawTimeout

_UNSET: Any = object()

REF_DEFAULT_CODEX_VERSION = "0.171.0"  # execserver-ref's --codex-version default (its own package: not imported)
SUPPORTED_CODEX_VERSIONS = ("0.169.0", "0.171.0")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@functools.lru_cache(maxsize=8)
def _release_of(binary: str) -> str:
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    match = re.search(r"(\d+\.\d+\.\d+)", output)
    if match is None:
        raise RuntimeError(f"{binary} --version printed no release: {output!r}")
    return match.group(1)


def codex_under_test() -> str | None:
    """The release of the codex binary the suite runs (None when there is none)."""
    try:
        return _release_of(str(codex_binary()))
    except (CodexUnavailable, OSError, subprocess.SubprocessError, RuntimeError):
        return None


def pinned_codex(kind: str) -> str | None:
    """The release named by a ``codex@VERSION`` kind (None for any other kind, ``latest`` included)."""
    if kind.startswith("codex@"):
        version = kind.removeprefix("codex@")
        return None if version == "latest" else version
    return None


def explicit_ref_version(args: list[str]) -> str | None:
    """The ``--codex-version`` a reference server was started with (the last one wins, as in argparse)."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--codex-version" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--codex-version="):
            found = arg.partition("=")[2]
    return found


def server_version(server: ServerProcess) -> str:
    """The codex release whose behaviour ``server`` shows."""
    if server.kind == "codex":
        return codex_under_test() or "unknown"
    if server.kind.startswith("codex@"):
        pinned = pinned_codex(server.kind)
        if pinned is not None:
            return pinned
        binaries = [str(a) for a in server.popen.args if str(a).endswith("/codex")]  # type: ignore[union-attr]
        try:
            return _release_of(binaries[0]) if binaries else "unknown"
        except (OSError, subprocess.SubprocessError, RuntimeError):
            return "unknown"
    args = [str(a) for a in server.popen.args]  # type: ignore[union-attr]
    return explicit_ref_version(args) or REF_DEFAULT_CODEX_VERSION


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class Ctx:
    """Everything a scenario needs: the server, a private work dir inside its scratch, and the record."""

    server: ServerProcess
    workdir: Path
    strict: bool = True
    transcript: list[tuple[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    clients: list[RawClient] = field(default_factory=list)
    # starts (or reuses) another server of the same kind with extra args: (*args, prepare=fn(scratch))
    other_server: Callable[..., ServerProcess] | None = None
    version: str = ""  # the codex release the server speaks (set from the server)

    def __post_init__(self) -> None:
        target = codex_under_test()
        if (
            self.server.kind == "ref"
            and self.other_server is not None
            and explicit_ref_version([str(a) for a in self.server.popen.args]) is None  # type: ignore[union-attr]
            and target in SUPPORTED_CODEX_VERSIONS
            and target != server_version(self.server)
        ):
            self.server = self.other_server("--codex-version", target)
            self.workdir = self.server.scratch / self.workdir.name
            self.workdir.mkdir(exist_ok=True)
            hand_to_server(self.server.scratch, self.workdir)
        self.version = server_version(self.server)

    def since(self, version: str) -> bool:
        """Whether the server speaks ``version`` or a later release."""
        try:
            return version_tuple(self.version) >= version_tuple(version)
        except ValueError:
            return True

    # ------------------------------------------------------------ paths (always inside scratch)

    def path(self, rel: str = "") -> str:
        assert ".." not in rel.split("/"), "scenarios never use '..'"
        target = self.workdir / rel if rel else self.workdir
        assert target.resolve().is_relative_to(self.server.scratch.resolve()), target
        return str(target)

    def uri(self, rel: str = "") -> str:
        return "file://" + self.path(rel)

    @property
    def replacements(self) -> list[tuple[str, str]]:
        scratch = str(self.server.scratch)
        resolved = str(self.server.scratch.resolve())
        pairs = [(str(self.workdir), "<work>"), (scratch, "<scratch>"), (resolved, "<scratch>")]
        return sorted(pairs, key=lambda p: -len(p[0]))

    # ------------------------------------------------------------ recording

    def expect(self, key: str, actual: Any, expected: Any = _UNSET) -> Any:
        """Record an observation; in strict mode compare it with ``expected`` (if given)."""
        observed = normalize(key, actual, self.replacements, self.version)
        self.transcript.append((key, observed))
        if expected is not _UNSET and self.strict:
            wanted = normalize(key, expected, self.replacements, self.version)
            if observed != wanted:
                self.mismatches.append(
                    f"{key}:\n    expected (codex): {_dump(wanted)}\n    observed ({self.server.kind}): "
                    f"{_dump(observed)}"
                )
        return observed

    def check(self, key: str, ok: bool, detail: Any = "") -> None:
        """Record an invariant; strict mode reports it with ``detail`` when it does not hold."""
        self.transcript.append((key, bool(ok)))
        if not ok and self.strict:
            self.mismatches.append(f"{key}: invariant violated ({self.server.kind}): {_dump(detail)}")

    def finish(self) -> None:
        if self.mismatches:
            raise AssertionError(
                f"{len(self.mismatches)} conformance mismatch(es) on {self.server.kind}:\n" + "\n".join(self.mismatches)
            )

    # ------------------------------------------------------------ connections and calls

    async def connect(self, *, init: bool = True, client_name: str = "conformance", **kw: Any) -> RawClient:
        client = await RawClient.connect(self.server.url, **kw)
        self.clients.append(client)
        if init:
            response = await client.handshake(client_name)
            if "result" not in response:
                raise AssertionError(f"handshake failed on {self.server.kind}: {response}")
        return client

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients.clear()

    async def rpc(
        self,
        client: RawClient,
        key: str,
        method: str,
        params: Any = None,
        expect: Any = _UNSET,
        *,
        shape: Any = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        with_params: bool = True,
    ) -> Frame:
        """Send a request, record its normalized outcome under ``key`` and return the raw frame.

        ``shape`` (a function of the outcome) selects what is recorded when the full outcome is volatile.
        """
        rid = client.new_id()
        frame = await client.request(method, params, rid=rid, timeout=timeout, with_params=with_params)
        outcome = outcome_of(frame)
        self.expect(key, shape(outcome) if shape else outcome, expect)
        self.check(f"{key}.id-echo", frame.get("id") == rid, frame)
        return frame

    def start_params(self, pid: str, argv: list[str], **over: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"processId": pid, "argv": argv, "cwd": self.uri(), "env": {}, "tty": False}
        params.update(over)
        return params

    async def start(self, client: RawClient, key: str, pid: str, argv: list[str], **over: Any) -> Frame:
        return await self.rpc(
            client,
            key,
            "process/start",
            self.start_params(pid, argv, **over),
            {"result": {"processId": pid, "sandboxType": "none"}},
        )

    async def run_to_close(
        self,
        client: RawClient,
        key: str,
        pid: str,
        expected: Any = _UNSET,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        scrub: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Wait for ``process/closed``; check the notification stream; record the output summary.

        ``scrub`` rewrites volatile parts of the summary (e.g. a pid in the output) before recording.
        """
        await client.wait_for(
            lambda f: f.get("method") == "process/closed" and (f.get("params") or {}).get("processId") == pid,
            timeout=timeout,
            what=f"process/closed for {pid}",
        )
        # codex may put `closed` on the wire before `exited` (see docs/protocol.md, "Wire order"): the
        # stream is complete only once `exited` has arrived too; a server that never sends it fails the
        # one-exited check below after this bounded wait.
        with contextlib.suppress(RawTimeout, RawClosed):
            await client.wait_for(
                lambda f: f.get("method") == "process/exited" and (f.get("params") or {}).get("processId") == pid,
                timeout=timeout,
                what=f"process/exited for {pid}",
            )
        notes = [f for f in client.notifications() if (f.get("params") or {}).get("processId") == pid]
        self.check_stream(key, notes)
        summary = summarize(sorted(notes, key=_seq_of))
        self.expect(key, scrub(summary) if scrub else summary, expected)
        return summary

    def check_stream(self, key: str, notes: list[Frame]) -> None:
        """One seq counter per process over output/exited/closed, exited once, closed once with the highest seq.

        Order is judged by seq, as the protocol asks clients to reassemble: codex emits output, exited and
        closed from different tasks, so on the wire an event can overtake one with a lower seq (codex
        0.169.0 once sent `closed` before `exited` with no fault at all). The reference server also keeps
        wire order equal to seq order for the terminal events, which is checked for it alone.
        """
        methods = [n["method"] for n in notes]
        seqs = [n["params"].get("seq") for n in notes]
        trail = [(m, s) for m, s in zip(methods, seqs, strict=True)]
        by_seq = [m for _, m in sorted(zip(seqs, methods, strict=True), key=lambda pair: _as_int(pair[0]))]
        self.check(f"{key}.seq-contiguous-from-1", sorted(seqs, key=_as_int) == list(range(1, len(seqs) + 1)), trail)
        self.check(f"{key}.one-exited", methods.count("process/exited") == 1, trail)
        self.check(f"{key}.one-closed", methods.count("process/closed") == 1, trail)
        self.check(f"{key}.closed-has-highest-seq", bool(by_seq) and by_seq[-1] == "process/closed", trail)
        if "process/exited" in by_seq:
            self.check(f"{key}.exited-before-closed", by_seq.index("process/exited") < len(by_seq) - 1, trail)
        terminal = [m for m in methods if m != "process/output"]
        if self.server.kind == "ref" and terminal != ["process/exited", "process/closed"] and self.strict:
            # not a transcript entry: the pairwise comparison with codex must not see a ref-only key
            self.mismatches.append(f"{key}.ref-wire-order: exited then closed on the wire, got {_dump(trail)}")
        shapes = sorted({(n["method"], *sorted(n["params"])) for n in notes})
        self.expect(f"{key}.param-shapes", [list(s) for s in shapes])


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _seq_of(note: Frame) -> int:
    return _as_int((note.get("params") or {}).get("seq"))


def outcome_of(frame: Frame) -> dict[str, Any]:
    """The comparable part of a response: ``{"result": ...}`` or ``{"error": {code, message[, data]}}``."""
    if "error" in frame:
        error = frame["error"]
        if isinstance(error, dict):
            return {"error": {k: error[k] for k in ("code", "message", "data") if k in error}}
        return {"error": error}
    return {"result": frame.get("result", "<missing result>")}


def summarize(notes: list[Frame]) -> dict[str, Any]:
    """Output per stream (chunk boundaries and seq numbers erased), exit code, event order."""
    streams: dict[str, bytes] = {}
    exit_code: Any = None
    events: list[str] = []
    for note in notes:
        method = note["method"].removeprefix("process/")
        params = note["params"]
        if method == "output":
            streams[params["stream"]] = streams.get(params["stream"], b"") + unb64(params["chunk"])
        elif method == "exited":
            exit_code = params.get("exitCode")
        if not events or events[-1] != method:
            events.append(method)
    # output may legitimately race with exited; only exited/closed order is compared
    terminal = [e for e in events if e != "output"]
    return {
        "output": {k: v.decode(errors="replace") for k, v in sorted(streams.items())},
        "exitCode": exit_code,
        "terminal-events": terminal,
    }


def read_summary(outcome: dict[str, Any]) -> dict[str, Any]:
    """A process/read result with chunk boundaries erased (data per stream kept)."""
    if "result" not in outcome:
        return outcome
    result = dict(outcome["result"])
    chunks = result.pop("chunks", [])
    streams: dict[str, str] = {}
    for chunk in chunks:
        streams[chunk["stream"]] = streams.get(chunk["stream"], "") + unb64(chunk["chunk"]).decode(errors="replace")
    result.pop("nextSeq", None)
    result["output"] = dict(sorted(streams.items()))
    return {"result": result}


def _dump(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) < 1500 else text[:1500] + "..."
