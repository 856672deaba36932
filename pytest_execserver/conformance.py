"""Drift report: run the conformance scenarios on two servers and print what changed.

    python -m pytest_execserver.conformance diff codex@0.169.0 codex@0.171.0
    python -m pytest_execserver.conformance diff ref codex --only pty --only session_resume

A server is ``ref`` (with extra arguments, e.g. ``"ref --inject-bug drop-chunk"``), ``codex``,
``codex@VERSION`` (fetched with npm), or a command (``{listen}`` replaced by ``ws://127.0.0.1:0``, else it
prints its URL first). Every scenario runs on each server (confined, in a temporary scratch directory)
and its normalized transcript -- every observation, volatile values erased -- is compared line by line.
Exit status: 0 when nothing changed, 1 when something did, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_execserver import codex

Transcript = list[str] | str  # the observation lines, or why the scenario did not complete


@dataclass(frozen=True)
class ServerSpec:
    """A server as the report names it, and how to start it (kind and extra arguments for ``start_server``)."""

    label: str
    kind: str
    args: tuple[str, ...]


def parse_spec(text: str) -> ServerSpec:
    """``ref [ARGS]``, ``codex [ARGS]``, ``codex@VERSION [ARGS]`` or a command; ValueError when empty."""
    tokens = shlex.split(text)
    if not tokens:
        raise ValueError("empty server")
    head, rest = tokens[0], tuple(tokens[1:])
    if head in ("ref", "codex"):
        return ServerSpec(text, head, rest)
    if head.startswith("codex@"):
        version = head.removeprefix("codex@")
        fetch: Callable[..., Path] = codex.codex_binary
        binary = fetch(version)
        return ServerSpec(text, shlex.join([str(binary), "exec-server", *rest]) + " --listen {listen}", ())
    return ServerSpec(text, text, ())


def _lines(transcript: list[tuple[str, Any]]) -> list[str]:
    return [f"{key} = {json.dumps(value, sort_keys=True, default=str)}" for key, value in transcript]


async def transcripts(spec: ServerSpec, names: Sequence[str], base: Path) -> dict[str, Transcript]:
    """Every named scenario's normalized transcript on the server ``spec``."""
    from pytest_execserver.suites.conformance.servers import ServerPool, new_ctx
    from pytest_execserver.suites.conformance.test_conformance import run_scenario

    pool = ServerPool(base)
    out: dict[str, Transcript] = {}
    try:
        for name in names:
            try:
                ctx = new_ctx(pool, spec.kind, name, strict=False, args=spec.args)
                await run_scenario(ctx, name)
            except BaseException as exc:  # a scenario that breaks (or a server that will not start) is a result
                if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
                    raise
                out[name] = f"did not complete: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                continue
            out[name] = _lines(ctx.transcript)
    finally:
        pool.stop_all()
    return out


def _key(line: str) -> str:
    return line.split(" = ", 1)[0]


def _value(line: str) -> Any:
    return json.loads(line.split(" = ", 1)[1])


def _pairs(removed: list[str], added: list[str]) -> list[tuple[str, str | None, str | None]]:
    """Removed and added observations matched by key (the same observation, changed), in order."""
    out: list[tuple[str, str | None, str | None]] = []
    pending = {_key(line): line for line in added}
    for line in removed:
        out.append((_key(line), line, pending.pop(_key(line), None)))
    out.extend((key, None, line) for key, line in pending.items())
    return out


def _changes(before: Any, after: Any, path: str = "") -> list[str]:
    """What differs between two JSON values, as ``path: A -> B`` / ``path added: B`` / ``path removed: A``."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for k in sorted(set(before) | set(after)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in after:
                out.append(f"{sub} removed (was {json.dumps(before[k], sort_keys=True)})")
            elif k not in before:
                out.append(f"{sub} added: {json.dumps(after[k], sort_keys=True)}")
            elif before[k] != after[k]:
                out.extend(_changes(before[k], after[k], sub))
        return out
    if isinstance(before, list) and isinstance(after, list) and all(isinstance(x, str) for x in before + after):
        gone = [x for x in before if x not in after]
        new = [x for x in after if x not in before]
        if gone or new:
            return [f"{path}: " * bool(path) + ", ".join([*(f"-{x}" for x in gone), *(f"+{x}" for x in new)])]
    return [f"{path}: " * bool(path) + f"{json.dumps(before, sort_keys=True)} -> {json.dumps(after, sort_keys=True)}"]


def diff(a: dict[str, Transcript], b: dict[str, Transcript], label_a: str, label_b: str) -> list[str]:
    """The report: per changed scenario, the observations only in A (-) and only in B (+)."""
    changed: list[str] = []
    lines: list[str] = []
    for name in sorted(a):
        left, right = a[name], b.get(name, "missing")
        if left == right:
            continue
        changed.append(name)
        lines.append(f"{name}:")
        if isinstance(left, str) or isinstance(right, str):
            lines.append(f"  - {left if isinstance(left, str) else 'completed'}")
            lines.append(f"  + {right if isinstance(right, str) else 'completed'}")
            continue
        removed = [line for line in left if line not in right]
        added = [line for line in right if line not in left]
        for key, before, after in _pairs(removed, added):
            if before is not None and after is not None:
                lines.extend(f"  ~ {key}: {change}" for change in _changes(_value(before), _value(after)))
            elif before is not None:
                lines.append(f"  - {before}")
            elif after is not None:
                lines.append(f"  + {after}")
    head = [f"drift: {label_a} (-) -> {label_b} (+), {len(a)} scenarios: "
            + (f"{len(changed)} changed ({', '.join(changed)})" if changed else "no differences")]
    return head + lines


def main(argv: Sequence[str] | None = None) -> int:
    from pytest_execserver.suites.conformance.test_conformance import NAMES

    parser = argparse.ArgumentParser(prog="python -m pytest_execserver.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("diff", help="run the conformance scenarios on servers A and B; print what changed")
    d.add_argument("a", help="server A (ref, codex, codex@VERSION or a command)")
    d.add_argument("b", help="server B")
    d.add_argument("--only", action="append", metavar="SCENARIO", help=f"only these scenarios (of {len(NAMES)})")
    args = parser.parse_args(argv)
    names = args.only or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    try:
        specs = [parse_spec(args.a), parse_spec(args.b)]
    except (ValueError, codex.CodexUnavailable) as exc:
        parser.error(str(exc))
    base = Path(tempfile.mkdtemp(prefix="execserver-drift-"))
    try:
        results = [asyncio.run(transcripts(spec, names, base / str(i))) for i, spec in enumerate(specs)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report = diff(results[0], results[1], specs[0].label, specs[1].label)
    print("\n".join(report))
    return 1 if len(report) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
