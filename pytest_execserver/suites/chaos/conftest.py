"""The chaos suite: ``ours/`` (our ExecClient's own matrix) runs only when the client under test is ours;
cases that place protocol faults skip where the proxied hop carries no JSON-RPC (``plaintext_hop``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.subjects.fixtures import client_spec
from pytest_execserver.subjects.spec import parse_ours
from pytest_execserver.suites.chaos.kit import NOISE_HOP, readable_hop

OURS = Path(__file__).parent / "ours"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == OURS and parse_ours(client_spec(config)) is None:
        return True  # a client given as a command: the ExecClient matrix does not apply to it
    return None


@pytest.fixture
def plaintext_hop(exec_server: Any) -> None:
    """Skip before ``exec_proxy`` puts the protocol proxy in a hop it cannot read (see ``kit.NOISE_HOP``)."""
    if not readable_hop(exec_server):
        pytest.skip(NOISE_HOP)
