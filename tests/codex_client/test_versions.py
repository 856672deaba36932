"""Codex versions: per-version cache, ``latest`` through npm, ``codex@VERSION`` as a server kind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pytest_execserver.glue.options import parse_server
from pytest_execserver.servers import codex
from pytest_execserver.servers.launch import server_argv


def _fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fake_npm(bin_dir: Path, latest: str) -> None:
    """An ``npm`` that answers ``view`` with ``latest`` and fails anything else (no network)."""
    _fake_binary(bin_dir / "npm").write_text(
        f'#!/bin/sh\n[ "$1" = view ] && [ "$3" = dist-tags.latest ] && echo "{latest}" && exit 0\n'
        'echo "unexpected npm call: $*" >&2; exit 3\n'
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXECSERVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EXECSERVER_CODEX_BIN", raising=False)
    return tmp_path / "cache"


def test_each_version_has_its_own_cache_directory(cache: Path) -> None:
    old = _fake_binary(cache / "codex-0.169.0" / "platform" / "bin" / "codex")
    new = _fake_binary(cache / f"codex-{codex.DEFAULT_VERSION}" / "platform" / "bin" / "codex")
    assert codex.codex_binary("0.169.0", fetch=False) == old
    assert codex.codex_binary(fetch=False) == new
    with pytest.raises(codex.CodexUnavailable, match=r"0\.170\.0 is not cached"):
        codex.codex_binary("0.170.0", fetch=False)


def test_latest_is_resolved_through_npm_and_cached_under_its_number(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_npm(tmp_path / "bin", "0.172.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert codex.resolve_version("latest") == "0.172.0"
    cached = _fake_binary(cache / "codex-0.172.0" / "platform" / "bin" / "codex")
    assert codex.codex_binary("latest") == cached


def test_a_registry_answer_that_is_not_a_version_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_npm(tmp_path / "bin", "../../etc")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(codex.CodexUnavailable, match="not a release number"):
        codex.resolve_version("latest")


def test_env_override_applies_to_the_default_version_only(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = _fake_binary(cache / "mine" / "codex")
    pinned = _fake_binary(cache / "codex-0.169.0" / "platform" / "bin" / "codex")
    monkeypatch.setenv("EXECSERVER_CODEX_BIN", str(override))
    assert codex.codex_binary() == override
    assert codex.codex_binary("0.169.0") == pinned


@pytest.mark.parametrize("bad", ["", "../x", "0.171", "1.2.3; rm", "v0.171.0"])
def test_malformed_versions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not 'latest' or a release number"):
        codex.codex_binary(bad, fetch=False)


def test_server_option_accepts_codex_at_version(cache: Path) -> None:
    assert parse_server("codex@0.169.0 --flag") == ("codex@0.169.0", ("--flag",))
    assert parse_server("codex@latest") == ("codex@latest", ())
    with pytest.raises(pytest.UsageError, match="--execserver-server: codex version 'nope'"):
        parse_server("codex@nope")
    binary = _fake_binary(cache / "codex-0.169.0" / "platform" / "bin" / "codex")
    assert server_argv("codex@0.169.0", ["-x"])[:2] == [str(binary), "exec-server"]
    assert server_argv("codex@0.169.0", ["-x"])[-1] == "-x"


def test_module_entry_point_prints_the_cached_path(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = _fake_binary(cache / "codex-0.169.0" / "platform" / "bin" / "codex")
    assert codex.main(["0.169.0"]) == 0
    assert capsys.readouterr().out.strip() == str(binary)
    assert codex.main(["bad/version"]) == 1
    assert "not 'latest'" in capsys.readouterr().err
