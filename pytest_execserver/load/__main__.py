"""``python -m pytest_execserver.load``: run a load (and optionally a reconnect storm) against an exec-server.

    python -m pytest_execserver.load --server ref --clients 16 --processes 4
    python -m pytest_execserver.load --server codex --clients 8 --rate 40 --duration 5 --threshold 'p95_ms<=500'
    python -m pytest_execserver.load --url ws://127.0.0.1:PORT --clients 4 --processes 8 --json

``--server`` starts the server confined (bubblewrap, or an unprivileged user; ``--unconfined`` to opt out)
in a fresh scratch directory and samples its process tree from /proc; ``--url`` loads a running server
(loopback only). Prints a table (``--json``: the ``LoadResult.to_dict()``, mergeable with others) and exits
1 when a threshold fails (``errors==0`` always, unless a threshold names the errors), 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_execserver.load.resources import ResourceSampler
from pytest_execserver.load.result import LoadResult, check_thresholds, parse_threshold
from pytest_execserver.load.runner import run_load_async
from pytest_execserver.load.schedule import LoadConfigError
from pytest_execserver.load.storm import StormResult, reconnect_storm

LOOPBACK_HOSTS = ("localhost", "::1")
METRIC_ROWS = (
    ("clients", "clients", "{:.0f}"), ("operations", "ok operations", "{:.0f}"), ("errors", "errors", "{:.0f}"),
    ("elapsed_s", "elapsed s", "{:.2f}"), ("throughput", "ops/s", "{:.1f}"), ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"), ("max_ms", "max ms", "{:.1f}"),
    ("connect_p95_ms", "connect p95 ms", "{:.1f}"), ("harness_cpu_ms_per_op", "harness CPU ms/op", "{:.2f}"),
)  # fmt: skip


class UsageProblem(ValueError):
    """Bad command-line input (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_execserver.load",
                                     description=(__doc__ or "").strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server's ws:// URL (loopback only)")
    target.add_argument("--server", help="start one, confined: ref, codex, codex@VERSION, 'ref --inject-bug X' "
                                         "or a command (with {listen} for its listen address)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--processes", type=int, default=None, help="one-shot processes per client")
    parser.add_argument("--duration", type=float, default=None, help="seconds (with --rate: open loop)")
    parser.add_argument("--rate", type=float, default=None, help="operations per second over all clients (open loop)")
    parser.add_argument("--payload-bytes", type=int, default=64, help="bytes each process prints (default 64)")
    parser.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                        help="k6-style threshold, repeatable: 'p95_ms<=500', 'throughput>=50', 'errors==0'")
    parser.add_argument("--storm", type=int, nargs="?", const=0, default=None, metavar="FLAPS",
                        help="then a reconnect storm: as many clients, all cut at once, then FLAPS more cuts of "
                             "every 2nd client (default 0); every process must end byte-exact")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--unconfined", action="store_true", help="start --server without confinement (unsafe)")
    return parser


def check_args(args: argparse.Namespace) -> list[str]:
    """Validate what argparse cannot; the thresholds to check. Raises :class:`UsageProblem`."""
    if args.url is not None:
        parts = urlsplit(args.url)
        host = parts.hostname or ""
        if parts.scheme != "ws" or not (host.startswith("127.") or host in LOOPBACK_HOSTS):
            raise UsageProblem(f"--url must be a loopback ws:// URL (ws://127.0.0.1:PORT), got {args.url!r}")
    if args.clients <= 0:
        raise UsageProblem(f"--clients must be positive, got {args.clients}")
    if args.processes is None and args.duration is None:
        args.processes = 4
    for name in ("processes", "duration", "rate", "payload_bytes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageProblem(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.storm is not None and args.storm < 0:
        raise UsageProblem(f"--storm must be >= 0 flaps, got {args.storm}")
    thresholds = list(args.threshold)
    for text in thresholds:
        try:
            parse_threshold(text)
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
    if not any(t.strip().startswith(("errors", "error_rate")) for t in thresholds):
        thresholds.insert(0, "errors==0")
    return thresholds


def parse_server(value: str, base: str) -> tuple[str, list[str]]:
    """``'ref --inject-bug X'`` -> ``("ref", ["--inject-bug", "X"])``; a command stays whole (paths absolute)."""
    from pytest_execserver.servers.command import MissingPathError, resolve_paths

    try:
        tokens = shlex.split(value)
    except ValueError as exc:
        raise UsageProblem(f"--server: cannot parse {value!r}: {exc}") from None
    if not tokens:
        raise UsageProblem("--server: empty; use ref, codex or a command")
    if tokens[0] in ("ref", "codex") or tokens[0].startswith("codex@"):
        return tokens[0], tokens[1:]
    try:
        return shlex.join(resolve_paths(tokens, base, ("{listen}",))), []
    except MissingPathError as exc:
        raise UsageProblem(f"--server: {exc}") from None


def table(result: LoadResult, thresholds: list[str], extra: dict[str, Any]) -> str:
    """The metrics, what the CLI knows about the server, and each threshold with its verdict."""
    metrics = result.metrics()
    rows = [(label, fmt.format(metrics[key])) for key, label, fmt in METRIC_ROWS]
    rows += [(k, str(v)) for k, v in extra.items()]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value:>12}" for label, value in rows]
    for text in thresholds:
        failed = check_thresholds(metrics, [text])
        lines.append(f"threshold {text}: " + ("ok" if not failed else failed[0].split(" ", 1)[1].upper()))
    lines += [f"error: {e}" for e in result.error_samples[:10]]
    return "\n".join(lines)


async def _run(url: str, args: argparse.Namespace) -> tuple[LoadResult, StormResult | None]:
    result = await run_load_async(url, clients=args.clients, processes_per_client=args.processes,
                                  duration_s=args.duration, rate=args.rate, payload_bytes=args.payload_bytes)
    storm = None
    if args.storm is not None:
        storm = await reconnect_storm(url, clients=args.clients, flaps=args.storm)
    return result, storm


def _peaks(sampler: ResourceSampler) -> dict[str, Any]:
    samples = list(sampler.samples)
    if not samples:
        return {}
    return {"server peak RSS MB": f"{max(s.rss_mb for s in samples):.0f}",
            "server fds start/peak/end": f"{samples[0].fds}/{max(s.fds for s in samples)}/{samples[-1].fds}",
            "server peak threads": str(max(s.threads for s in samples)),
            "server processes left": str(len(samples[-1].descendants))}


def run(args: argparse.Namespace) -> int:
    thresholds = check_args(args)
    extra: dict[str, Any] = {}
    if args.url is not None:
        result, storm = asyncio.run(_run(args.url, args))
    else:
        from pytest_execserver.servers.codex import CodexUnavailable
        from pytest_execserver.servers.confine import ConfinementError, choose_confinement
        from pytest_execserver.servers.launch import ServerStartError, start_server

        kind, server_args = parse_server(args.server, str(Path.cwd()))
        try:
            confinement = choose_confinement(args.unconfined)
        except ConfinementError as exc:
            raise UsageProblem(str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="execserver-load-") as tmp:
            try:
                server = start_server(kind, Path(tmp) / "scratch", confinement=confinement, extra_args=server_args)
            except (ServerStartError, CodexUnavailable) as exc:
                print(f"the server {args.server!r} did not start: {exc}", file=sys.stderr)
                return 2
            with server, ResourceSampler(server.popen.pid, interval_s=0.2) as sampler:
                result, storm = asyncio.run(_run(server.url, args))
                sampler.settle(grace_s=2.0, idle_s=0.0)
            extra = {"server": f"{args.server} ({confinement.value})", **_peaks(sampler)}
    failures = check_thresholds(result, thresholds)
    storm_failed = storm is not None and not storm.ok
    if args.json:
        out = {**result.to_dict(), "thresholds": thresholds, "failures": failures, **extra}
        if storm is not None:
            out["storm"] = {"ok": storm.ok, "clients": storm.clients, "cuts": storm.cuts,
                            "recovered": storm.recovered, "errors": storm.errors[:10],
                            "recovery_p50_ms": storm.recovery.percentile_ms(50),
                            "recovery_max_ms": storm.recovery.max_ms}
        print(json.dumps(out, indent=1))
    else:
        print(table(result, thresholds, extra))
        if storm is not None:
            print(storm.summary())
    return 1 if failures or storm_failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (UsageProblem, LoadConfigError) as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
