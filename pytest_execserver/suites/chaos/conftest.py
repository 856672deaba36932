"""The chaos suite: ``ours/`` (our ExecClient's own matrix) runs only when the client under test is ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_execserver.subjects.fixtures import client_spec
from pytest_execserver.subjects.spec import parse_ours

OURS = Path(__file__).parent / "ours"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == OURS and parse_ours(client_spec(config)) is None:
        return True  # a client given as a command: the ExecClient matrix does not apply to it
    return None
