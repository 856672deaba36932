"""Drift report: run the conformance scenarios on two servers and print what changed.

    python -m pytest_execserver.suites.conformance.drift diff codex@0.169.0 codex@0.171.0
    python -m pytest_execserver.suites.conformance.drift diff ref codex --only pty --only session_resume

A server is ``ref`` (with extra arguments, e.g. ``"ref --inject-bug drop-chunk"``), ``codex``,
``codex@VERSION`` (fetched with npm), or a command (``{listen}`` replaced by ``ws://127.0.0.1:0``, else it
prints its URL first). Every scenario runs on each server (confined, in a temporary scratch directory)
and its normalized transcript -- every observation, volatile values erased -- is compared line by line.
A key added or removed is shown even when its value is normalized (``prependPathDirs added (normalized:
<file-uris>)``). ``executorVersion`` equal to the server's own release is shown as ``<release>`` on both
sides, so two releases do not "differ" by their version numbers; a server reporting anything else
(``0.0.0``) shows as a change.
A scenario that differs runs twice more on both servers; one whose transcripts on A and B coincide in some
run varies between runs (a race), and is listed as unstable, not as changed.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_execserver.servers import codex

Transcript = list[str] | str  # the observation lines, or why the scenario did not complete
RERUNS = 2  # extra runs of a scenario that differs, on both servers


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
        codex.codex_binary(head.removeprefix("codex@"))  # fetched (or a usage error) before anything runs
        return ServerSpec(text, head, rest)  # judged as that release (the harness reads it from the kind)
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


def _shown(value: Any) -> str:
    """A value in the report: a normalization placeholder (``"<file-uris>"``) is named as one."""
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return f"(normalized: {value})"
    return json.dumps(value, sort_keys=True)


def _changes(before: Any, after: Any, path: str = "") -> list[str]:
    """What differs between two JSON values, as ``path: A -> B`` / ``path added: B`` / ``path removed: A``."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for k in sorted(set(before) | set(after)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in after:
                out.append(f"{sub} removed (was {_shown(before[k])})")
            elif k not in before:
                out.append(f"{sub} added: {_shown(after[k])}")
            elif before[k] != after[k]:
                out.extend(_changes(before[k], after[k], sub))
        return out
    if isinstance(before, list) and isinstance(after, list) and all(isinstance(x, str) for x in before + after):
        gone = [x for x in before if x not in after]
        new = [x for x in after if x not in before]
        if gone or new:
            return [f"{path}: " * bool(path) + ", ".join([*(f"-{x}" for x in gone), *(f"+{x}" for x in new)])]
    return [f"{path}: " * bool(path) + f"{_shown(before)} -> {_shown(after)}"]


def _distance(left: Transcript, right: Transcript) -> int:
    if isinstance(left, str) or isinstance(right, str):
        return 0 if left == right else 1_000_000
    return len(set(left) ^ set(right))


def settle(
    a_runs: dict[str, list[Transcript]], b_runs: dict[str, list[Transcript]]
) -> tuple[dict[str, Transcript], dict[str, Transcript], list[str]]:
    """One transcript per scenario and server from repeated runs, and the scenarios that were unstable.

    A scenario whose runs on A and on B include an identical transcript did not drift: it varies from run to
    run (a race inside a server), so it is reported as unstable, not as changed. Otherwise the closest pair
    of runs is compared, so a race seen in one run does not pad the report.
    """
    a: dict[str, Transcript] = {}
    b: dict[str, Transcript] = {}
    unstable: list[str] = []
    for name, lefts in a_runs.items():
        rights = b_runs.get(name, ["missing"])
        pairs = sorted(((_distance(x, y), i, j) for i, x in enumerate(lefts) for j, y in enumerate(rights)))
        _, i, j = pairs[0]
        a[name], b[name] = lefts[i], rights[j]
        if a[name] == b[name] and lefts[0] != rights[0]:
            unstable.append(name)
    return a, b, unstable


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

    parser = argparse.ArgumentParser(prog="python -m pytest_execserver.suites.conformance.drift", description=__doc__,
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
        runs: list[dict[str, list[Transcript]]] = [{}, {}]
        todo = names
        for attempt in range(1 + RERUNS):  # a changed scenario runs again on both: a race is not drift
            for i, spec in enumerate(specs):
                for name, transcript in asyncio.run(transcripts(spec, todo, base / f"{i}-{attempt}")).items():
                    runs[i].setdefault(name, []).append(transcript)
            a, b, _ = settle(runs[0], runs[1])
            todo = [name for name in todo if a[name] != b[name]]
            if not todo:
                break
    finally:
        shutil.rmtree(base, ignore_errors=True)
    a, b, unstable = settle(runs[0], runs[1])
    report = diff(a, b, specs[0].label, specs[1].label)
    report += [f"unstable (varied between runs of one server, not counted): {name}" for name in unstable]
    print("\n".join(report))
    return 1 if a != b else 0


if __name__ == "__main__":
    sys.exit(main())
