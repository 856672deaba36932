"""``python -m pytest_execserver doctor``: the pure checks on written-down machines, and one live run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from pytest_execserver.cli.doctor import Facts, Row, defaults_can_run, render, rows

FULL = Facts(
    root=True, confinement="bwrap", confinement_why="bubblewrap /usr/bin/bwrap works here", session_check="",
    bwrap="/usr/bin/bwrap", bwrap_trial="", apt=True, codex_default="0.171.0",
    codex_cached={"0.171.0": "/c/codex-0.171.0/platform/bin/codex"}, codex_override=None, cache="/c",
    npm="/usr/bin/npm", toxiproxy_real="/c/toxiproxy-2.12.0/toxiproxy-server", toxiproxy_version="2.12.0",
    toxiproxy_pinned="v2.12.0", go="/usr/local/go/bin/go", go_version="go1.23.4",
    embedded_toxiproxy="/site/pytoxiproxy", ref_server="/site/execserver_ref",
)
BARE = dataclasses.replace(
    FULL, confinement="unprivileged-user", confinement_why="bubblewrap is not installed; running as root",
    bwrap=None, codex_cached={}, npm=None, toxiproxy_real=None, toxiproxy_version=None, go=None, go_version=None,
)


def _by_part(facts: Facts) -> dict[str, Row]:
    return {r.part: r for r in rows(facts)}


def test_a_full_machine_is_all_ok() -> None:
    checks = rows(FULL)
    assert {r.status for r in checks} == {"ok"}
    assert defaults_can_run(checks)


def test_each_missing_part_names_the_command_that_adds_it() -> None:
    found = _by_part(BARE)
    assert found["bubblewrap"].fix == "python -m pytest_execserver install bubblewrap"
    assert found["codex"].fix == "python -m pytest_execserver install codex@0.171.0 (needs npm)"
    assert found["npm"].fix == "apt-get install -y npm"
    assert found["toxiproxy (real)"].fix.endswith("then python -m pytest_execserver install toxiproxy")
    assert "go.dev" in found["go"].fix
    assert defaults_can_run(rows(BARE))  # ref + embedded + nobody: the defaults still run


def test_a_non_root_user_gets_sudo_commands() -> None:
    found = _by_part(dataclasses.replace(BARE, root=False, confinement_why="non-root"))
    assert found["bubblewrap"].fix == "sudo apt-get install -y bubblewrap"
    assert found["confinement"].status == "warn"  # same user, no read-only root


def test_an_unusable_bwrap_is_a_warning_with_the_apparmor_fix() -> None:
    found = _by_part(dataclasses.replace(FULL, bwrap_trial="uid map: Permission denied"))
    assert found["bubblewrap"].status == "warn" and "apparmor" in found["bubblewrap"].fix


def test_no_working_confinement_means_the_defaults_cannot_run() -> None:
    broken = dataclasses.replace(BARE, session_check="nobody cannot use /tmp/tmp.x: mode drwx------")
    checks = rows(broken)
    assert _by_part(broken)["confinement"].status == "missing"
    assert not defaults_can_run(checks)
    assert "CANNOT run" in render(checks)


def test_the_otlp_endpoint_is_reported() -> None:
    found = _by_part(dataclasses.replace(FULL, otlp_env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}))
    assert "http://127.0.0.1:4318" in found["otlp endpoint"].detail


def test_doctor_runs_on_this_machine() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_execserver", "doctor", "--json"], capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stdout)
    parts = [c["part"] for c in report["checks"]]
    assert parts[:2] == ["reference server", "confinement"] and "otlp endpoint" in parts
    assert done.returncode == (0 if report["defaults_can_run"] else 1), done.stderr


def test_install_rejects_an_unknown_part() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_execserver", "install", "toxiproxy@1"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "only codex takes a version" in done.stderr
