"""A user's command (a server or client under test) made to run from a scratch directory.

Servers and adapters run with a scratch directory as cwd, so a relative path typed on the command line is
made absolute against where pytest started: ``python myserver.py --listen {listen}`` works as typed. A
token that looks like a file (a script suffix, or a slash) and exists nowhere is an error naming it, not a
``can't open file '<scratch>/myserver.py'`` from inside the scratch directory.
"""

from __future__ import annotations

import os

_SCRIPT_SUFFIXES = (".py", ".js", ".mjs", ".ts", ".sh", ".rb", ".pl", ".jar")


class MissingPathError(ValueError):
    """A command names a relative file that does not exist where pytest started."""


def resolve_paths(tokens: list[str], base: str, placeholders: tuple[str, ...] = ()) -> list[str]:
    """``tokens`` with each relative path that exists under ``base`` made absolute.

    The program itself only when it has a slash (``python`` stays a PATH lookup); its arguments whenever
    they name an existing file or folder (``client.py``, ``examples/client.py``). Options (``-x``) and
    tokens holding a placeholder (``{url}``) are left alone.
    """
    resolved = []
    for index, token in enumerate(tokens):
        candidate = ("/" in token or index > 0) and not token.startswith("-") and not os.path.isabs(token)
        if candidate and not any(p in token for p in placeholders):
            path = os.path.join(base, token)
            if os.path.exists(path):
                token = os.path.abspath(path)
            elif token.endswith(_SCRIPT_SUFFIXES) or (index == 0 and "/" in token):
                raise MissingPathError(
                    f"{token} does not exist (relative paths resolve from where pytest started: {base})"
                )
        resolved.append(token)
    return resolved
