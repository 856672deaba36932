"""``python -m pytest_execserver doctor [--json] | install codex[@VERSION]|toxiproxy|bubblewrap``."""

from __future__ import annotations

import sys

USAGE = """usage: python -m pytest_execserver COMMAND
  doctor [--json]        what this machine has, what the harness will use, what is missing
  install codex[@VERSION] | toxiproxy | bubblewrap
                         add an optional part (codex from npm, toxiproxy built with Go, bwrap with apt)"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "doctor":
        from pytest_execserver.cli.doctor import main as doctor

        return doctor(args[1:])
    if args[0] == "install":
        from pytest_execserver.cli.install import main as install

        return install(args[1:])
    print(f"unknown command {args[0]!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
