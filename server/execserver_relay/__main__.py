"""``python -m execserver_relay`` / ``execserver-relay``."""

from __future__ import annotations

import sys

from execserver_relay.cli import main as cli_main


def main() -> int:
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
