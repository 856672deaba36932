"""Command line of ``execserver-relay``: the registry and rendezvous relay on one loopback port.

The first stdout line is the bound base URL (``http://127.0.0.1:PORT``), which is what ``codex exec-server
--remote`` and ``CODEX_EXEC_SERVER_NOISE_REGISTRY_URL`` take.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import signal
import sys
from pathlib import Path

from aiohttp import web

from execserver_relay.app import RelayService
from execserver_relay.faults import FaultPlan, FaultSpecError, fault_from_json
from execserver_relay.journal import Journal


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execserver-relay",
        description="Reference environment registry and rendezvous relay for codex's remote exec path "
                    "(docs/remote.md). Loopback only.",
    )
    parser.add_argument("--listen", default="ws://127.0.0.1:0",
                        help="ws://IP:PORT or http://IP:PORT on a loopback address (port 0: any free port)")
    parser.add_argument("--journal", type=Path, default=None, metavar="PATH",
                        help="append a JSONL event log (monotonic timestamps) to PATH")
    parser.add_argument("--auth-token", default=None, metavar="TOKEN",
                        help="the bearer /connect requires (default: any)")
    parser.add_argument("--faults", default=None, metavar="JSON",
                        help='an initial fault plan: a JSON list of faults (see POST /faults)')
    return parser


def parse_listen(url: str) -> tuple[str, int]:
    """``ws://127.0.0.1:0`` -> (host, port); ValueError unless the host is a loopback address."""
    for scheme in ("ws://", "http://"):
        if url.startswith(scheme):
            hostport = url.removeprefix(scheme).rstrip("/")
            break
    else:
        raise ValueError(f"unsupported --listen URL {url!r}: expected ws://IP:PORT or http://IP:PORT")
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit():
        raise ValueError(f"unsupported --listen URL {url!r}: expected ws://IP:PORT")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--listen host {host!r} is not a loopback IP address: the relay serves loopback only")
    return host, int(port)


async def serve(host: str, port: int, service: RelayService) -> int:
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
    bound_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    service.base_http = f"http://{bound_host}:{bound[1]}"
    sys.stdout.write(service.base_http + "\n")
    sys.stdout.flush()
    service.journal.write("listening", url=service.base_http)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        service.journal.close()
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    plan = FaultPlan()
    if args.faults:
        try:
            specs = json.loads(args.faults)
            if not isinstance(specs, list):
                raise FaultSpecError("--faults takes a JSON list")
            for spec in specs:
                plan.add(fault_from_json(spec))
        except (json.JSONDecodeError, FaultSpecError) as exc:
            print(f"Error: --faults: {exc}", file=sys.stderr)
            return 2
    try:
        journal = Journal(args.journal)
    except OSError as exc:
        print(f"Error: cannot open journal {args.journal}: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            return asyncio.run(serve(host, port, RelayService(journal, auth_token=args.auth_token, plan=plan)))
        except OSError as exc:
            print(f"Error: failed to listen on {args.listen}: {exc}", file=sys.stderr)
            return 1
    return 0
