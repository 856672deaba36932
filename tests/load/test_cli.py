"""``python -m pytest_execserver.load``: starts a confined server or loads a running one, prints the table or
JSON, exits 1 on a failed threshold or storm and 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from pytest_execserver.load.__main__ import main
from pytest_execserver.servers.launch import ServerProcess

StartServer = Callable[..., ServerProcess]
pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_execserver.load", *args], capture_output=True, text=True,
                          timeout=100, check=False)  # fmt: skip


def test_started_server_json(tmp_path: object) -> None:
    done = _cli("--server", "ref", "--clients", "4", "--processes", "2", "--threshold", "p99_ms<=20000", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["operations"], out["errors"], out["failures"]) == (8, 0, [])
    assert out["thresholds"] == ["errors==0", "p99_ms<=20000"] and out["latency_hdr"].startswith("HISTFAA")
    assert out["server processes left"] == "0" and out["server"].startswith("ref (")


def test_failed_threshold_and_storm_exit_1() -> None:
    done = _cli("--server", "ref --inject-bug lose-first-chunk-after-resume", "--clients", "3", "--processes", "1",
                "--threshold", "throughput>=100000000", "--storm")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "threshold errors==0: ok" in done.stdout
    assert "threshold throughput>=100000000: FAILED: MEASURED" in done.stdout
    assert "storm of 3 clients, 3 cuts: 0 recovered byte-exact, 3 errors" in done.stdout


def test_url_of_a_running_server(launch_server: StartServer, capsys: pytest.CaptureFixture[str]) -> None:
    server = launch_server("ref")
    assert main(["--url", server.url, "--clients", "2", "--rate", "20", "--duration", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "ok operations" in out and "threshold errors==0: ok" in out and "server peak" not in out


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "ws://10.0.0.1:80"], "--url must be a loopback ws:// URL"),
    (["--url", "http://127.0.0.1:80"], "--url must be a loopback ws:// URL"),
    (["--url", "ws://127.0.0.1:1", "--clients", "0"], "--clients must be positive"),
    (["--url", "ws://127.0.0.1:1", "--threshold", "p95<=3"], "unknown metric 'p95'"),
    (["--url", "ws://127.0.0.1:1", "--rate", "-2", "--duration", "1"], "--rate must be positive"),
    (["--server", "ref", "--storm", "-1"], "--storm must be >= 0 flaps"),
    (["--server", "./no-such-server --listen {listen}"], "--server: "),
])  # fmt: skip
def test_bad_input_exits_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_url_or_server_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--clients", "2"])
    assert exc.value.code == 2 and "one of the arguments --url --server is required" in capsys.readouterr().err
