"""Command line of ``execserver-ref`` (flags mirror ``codex exec-server``, plus test-only knobs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from execserver_ref.auth import AuthConfigError, AuthFlags, build_auth
from execserver_ref.bugs import BUG_HELP, Bugs
from execserver_ref.retention import DEFAULT_RETAINED_BYTES
from execserver_ref.session import DEFAULT_RETENTION_AFTER_CLOSE_MS, DEFAULT_SESSION_TTL_MS, ServerConfig
from execserver_ref.versions import BEHAVIOURS, DEFAULT_VERSION, behaviour


def _epilog() -> str:
    lines = ["injectable bugs (--inject-bug KIND, repeatable; each changes only what it names):"]
    for kind, text in BUG_HELP.items():
        lines.append(f"  {kind:16} {text}")
    lines.append("")
    lines.append(f"protocol: docs/protocol.md (faithful to codex exec-server {DEFAULT_VERSION}; --codex-version)")
    return "\n".join(lines)


def _u64(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**64:
        raise argparse.ArgumentTypeError(f"invalid value '{text}': expected an unsigned 64-bit integer")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execserver-ref",
        description="Reference exec-server (JSON-RPC over websocket), faithful to codex exec-server releases.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--listen", default="ws://127.0.0.1:0", help="ws://IP:PORT (port 0: any free port)")
    parser.add_argument(
        "--concurrent-requests",
        type=int,
        default=1,
        metavar="COUNT",
        help="maximum requests processed concurrently per connection (default 1: strictly in order)",
    )
    parser.add_argument(
        "--ws-auth",
        choices=["capability-token", "signed-bearer-token"],
        default=None,
        help="authentication of websocket upgrades (docs/security.md)",
    )
    parser.add_argument("--ws-token-file", default=None, metavar="PATH", help="the capability-token file")
    parser.add_argument("--ws-token-sha256", default=None, metavar="HEX", help="SHA-256 of the capability token")
    parser.add_argument(
        "--ws-shared-secret-file", default=None, metavar="PATH", help="HS256 secret of signed JWT bearer tokens"
    )
    parser.add_argument("--ws-issuer", default=None, metavar="ISSUER", help="expected iss of signed JWTs")
    parser.add_argument("--ws-audience", default=None, metavar="AUDIENCE", help="expected aud of signed JWTs")
    parser.add_argument(
        "--ws-max-clock-skew-seconds",
        type=_u64,
        default=None,
        metavar="SECONDS",
        help="clock skew allowed on exp and nbf of signed JWTs (default 30)",
    )
    parser.add_argument(
        "--session-ttl-ms",
        type=int,
        default=DEFAULT_SESSION_TTL_MS,
        help="how long a detached session survives before its processes are killed (default 30000)",
    )
    parser.add_argument(
        "--retained-bytes",
        type=int,
        default=DEFAULT_RETAINED_BYTES,
        help="retained output per process; oldest chunks are evicted (default 1048576)",
    )
    parser.add_argument(
        "--retention-after-close-ms",
        type=int,
        default=DEFAULT_RETENTION_AFTER_CLOSE_MS,
        help="how long a closed process stays readable (default -1: for the life of the session, like codex)",
    )
    parser.add_argument(
        "--inject-bug",
        action="append",
        default=[],
        choices=sorted(BUG_HELP),
        metavar="KIND",
        help="inject a protocol bug (see below)",
    )
    parser.add_argument(
        "--codex-version",
        default=DEFAULT_VERSION,
        choices=sorted(BEHAVIOURS),
        help=f"the codex exec-server release whose behaviour to follow (default {DEFAULT_VERSION})",
    )
    parser.add_argument(
        "--omit-sandbox-denied",
        action="store_true",
        help="behave like an older server: process/exited carries no sandboxDenied (process/read still does)",
    )
    parser.add_argument(
        "--journal",
        default=None,
        metavar="PATH",
        help="append every frame and every process's output to PATH as JSON lines (docs/journal.md)",
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        bugs = Bugs.from_kinds(args.inject_bug)
        flags = AuthFlags(
            args.ws_auth,
            args.ws_token_file,
            args.ws_token_sha256,
            args.ws_shared_secret_file,
            args.ws_issuer,
            args.ws_audience,
            args.ws_max_clock_skew_seconds,
        )
        auth = build_auth(flags, bugs)
    except AuthConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.concurrent_requests < 1:
        print("Error: --concurrent-requests must be at least 1", file=sys.stderr)
        return 1
    config = ServerConfig(
        session_ttl_ms=max(0, args.session_ttl_ms),
        retained_bytes=max(0, args.retained_bytes),
        retention_after_close_ms=args.retention_after_close_ms,
        concurrent_requests=args.concurrent_requests,
        bugs=bugs,
        omit_sandbox_denied=args.omit_sandbox_denied,
        codex=behaviour(args.codex_version),
    )
    from execserver_ref.journal import Journal
    from execserver_ref.process import reset_inherited_signal_state
    from execserver_ref.server import run_server
    from execserver_ref.tracing import Tracing

    try:
        journal = Journal(args.journal) if args.journal else None
    except OSError as exc:
        print(f"Error: cannot open journal {args.journal}: {exc}", file=sys.stderr)
        return 1
    reset_inherited_signal_state()
    try:
        return asyncio.run(run_server(args.listen, config, auth, Tracing.from_env(), journal))
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Error: failed to listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
