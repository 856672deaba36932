"""The header and both reports name what really ran (issue 24): backend, binary path and version, per worker.

The session runs with the real ``toxiproxy-server`` in the cache but not on PATH (where ``./run`` and
``python -m pytest_execserver install toxiproxy`` put it); the inner test reads the running Toxiproxy's
executable from /proc, and the outer test compares it with what the header and the JSON/HTML reports say.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_execserver.faults.backend import REAL_BINARY, real_binary
from pytest_execserver.faults.install_toxiproxy import cached_binary
from pytest_execserver.report.page import render
from pytest_execserver.servers.codex import cache_dir
from tests.plugin.conftest import Inner

INNER_TEST = '''
import os, pathlib

def test_reads_the_running_toxiproxy(_execserver_toxiproxy, exec_proxy):
    popen = _execserver_toxiproxy.popen
    exe = os.path.realpath(f"/proc/{popen.pid}/exe") if popen is not None else "embedded-in-process"
    pathlib.Path("running-{}.txt".format(os.environ.get("PYTEST_XDIST_WORKER", "main"))).write_text(exe)
'''


def _path_without_real_binary() -> str:
    """PATH minus any folder holding a ``toxiproxy-server``: the real one is then found in the cache only."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(f for f in folders if not (Path(f) / REAL_BINARY).exists())


@pytest.fixture
def cached_real(monkeypatch: pytest.MonkeyPatch) -> str:
    """The cached real binary; the cache is named explicitly, since pytester gives the inner session a new HOME."""
    binary = cached_binary()
    if binary is None:
        pytest.skip("the real toxiproxy-server is not in the cache (python -m pytest_execserver install toxiproxy)")
    monkeypatch.setenv("EXECSERVER_CACHE", str(cache_dir()))
    return str(binary)


@pytest.mark.parametrize("workers", [0, 2])
def test_header_and_reports_name_the_cached_real_binary(
    cached_real: str, inner: Inner, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setenv("PATH", _path_without_real_binary())
    assert real_binary() == cached_real  # found through the cache, not PATH
    pytester.makepyfile(test_inner=INNER_TEST + INNER_TEST.replace("test_reads", "test_again_reads"))
    report = pytester.path / "report.json"
    xdist = ["-n", str(workers)] if workers else []
    result = inner("--execserver-report", report, *xdist, subprocess=True)
    result.assert_outcomes(passed=2)
    running = {p.read_text() for p in pytester.path.glob("running-*.txt")}
    assert running == {os.path.realpath(cached_real)}, running

    result.stdout.fnmatch_lines([
        "execserver: seed=* toxiproxy=real mode=*",
        f"execserver: uses toxiproxy real ({cached_real} 2.12.0); server ref (*",
        f"*ran on {'gw*' if workers else 'main'}: *toxiproxy real ({cached_real} 2.12.0)*",
    ])
    header = json.loads(report.read_text())["header"]
    assert header["toxiproxy_backend"] == "real"
    assert header["uses"]["toxiproxy"] == {"kind": "real", "path": cached_real, "version": "2.12.0"}
    ran = header["ran_by_worker"]
    expected_workers = {f"gw{i}" for i in range(workers)} if workers else {"main"}
    assert ran and set(ran) <= expected_workers, ran
    for worker, parts in ran.items():
        assert parts["toxiproxy"] == {"kind": "real", "path": cached_real, "version": "2.12.0"}, worker
        assert parts["server"]["kind"] == "ref"
    page = render(json.loads(report.read_text()))
    assert f"real {cached_real} 2.12.0" in page


def test_embedded_is_named_embedded(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_TEST)
    report = pytester.path / "report.json"
    result = inner("--execserver-report", report, "--execserver-toxiproxy", "embedded", subprocess=True)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["execserver: seed=* toxiproxy=embedded mode=*", "*ran on main: *toxiproxy embedded*"])
    header = json.loads(report.read_text())["header"]
    assert header["toxiproxy_backend"] == "embedded"
    assert header["ran_by_worker"]["main"]["toxiproxy"]["kind"] == "embedded"
