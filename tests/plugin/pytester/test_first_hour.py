"""A new user's first hour (issue 25), driven as a user would: each finding a test that failed before.

1. a fault given as ``Fault(...)`` without a time lands where the string form does;
2. a server or client under test that cannot be had stops the run once (no green run of skips);
3. a misspelled harness marker is an error naming the right one;
4. a failing client shows in the summary's client-check table, not only in the JSON;
5. a server that prints no URL (or does not answer) fails once, with the rule, and the run stops;
6. relative paths in the server command resolve from where pytest started; the example adapter ships;
7. smaller items: one unconfined warning, one clean line for a decorator's typo.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest

from pytest_execserver.glue.options import parse_server
from tests.plugin.conftest import Inner

HERE = Path(__file__).resolve().parent
WRONG_CLIENTS = HERE.parents[1] / "subjects" / "wrong_clients.py"


def test_1_a_fault_object_without_a_time_cuts_where_the_string_does(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stream='''
from pytest_execserver import Fault, chaos

@chaos("latency", Fault("disconnect", mode="close"), "disconnect")
async def test_seq(exec_client):
    result = await exec_client.run(["seq", "1", "100"])
    assert result.stdout == b"".join(b"%d\\n" % i for i in range(1, 101))
''')
    result = inner("-p", "no:randomly")
    result.assert_outcomes(passed=3)


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm to ask the registry")
@pytest.mark.parametrize("role", ["server", "client"])
def test_2_an_unknown_codex_release_stops_the_run_once(inner: Inner, pytester: pytest.Pytester, role: str) -> None:
    pytester.makepyfile(test_two='''
async def test_a(exec_subject):
    pass

async def test_b(exec_subject):
    pass
''')
    started = time.monotonic()
    result = inner(f"--execserver-{role}", "codex@9.9.9", subprocess=True)
    assert time.monotonic() - started < 60
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert f"the {role} under test 'codex@9.9.9' cannot be had" in text
    assert "No matching version found" in text and "the newest releases are" in text  # npm's own words
    assert text.count("cannot be had") == 1 and "skipped" not in text


def test_2_skipping_is_available_on_request(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="async def test_a(exec_subject):\n    pass\n")
    result = inner("--execserver-client", "codex@0.0.0", "--execserver-skip-unavailable", subprocess=True)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the client under test 'codex@0.0.0' cannot be had*"])


@pytest.mark.parametrize(("typo", "right"), [("faults", "fault"), ("latency_budgets", "latency_budget"),
                                             ("chaoss", "chaos"), ("fault_shedule", "fault_schedule")])
def test_3_a_misspelled_marker_is_an_error_naming_the_right_one(
    inner: Inner, pytester: pytest.Pytester, typo: str, right: str
) -> None:
    pytester.makepyfile(test_typo=f'''
import pytest

@pytest.mark.{typo}("latency", ms=50)
async def test_a(exec_client):
    pass
''')
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_a: unknown marker '{typo}': did you mean '{right}'?*"])


def test_3_a_registered_marker_of_the_project_is_left_alone(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="import pytest\n\n@pytest.mark.faulty\ndef test_a():\n    pass\n")
    result = inner(ini="markers =\n    faulty: the project's own marker\n")
    result.assert_outcomes(passed=1)


def test_4_a_failing_client_shows_in_the_summary(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_burst="async def test_burst(exec_subject):\n"
                                   "    await exec_subject.run_argv(['seq', '1', '20000'])\n")
    client = f"{sys.executable} {WRONG_CLIENTS} drop-chunk {{url}}"
    result = inner("--execserver-client", client, subprocess=True)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "harness tests: 1 failed",
        "fault x client check (pass/fail), client *",
        "none*0/1*",  # delivered_output failed: a red cell, not an all-green table
    ])


@pytest.mark.parametrize(("server", "said"), [
    ("sleep 1000", "the server printed no URL within 30 s (a server under test must print its ws://HOST:PORT URL "
                   "as the first line of its stdout*"),
    (f"{sys.executable} -c \"import time; print('ws://127.0.0.1:9/', flush=True); time.sleep(1000)\"",
     "the server printed ws://127.0.0.1:9/ but http://127.0.0.1:9/readyz did not answer 200 within 30 s*"),
])
def test_5_a_server_that_does_not_start_fails_once_and_stops_the_run(
    inner: Inner, pytester: pytest.Pytester, server: str, said: str
) -> None:
    pytester.makepyfile(test_three="\n\n".join(f"async def test_{i}(exec_client):\n    pass" for i in range(3)))
    started = time.monotonic()
    result = inner("--execserver-server", server, subprocess=True)
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{said}", "*Interrupted: the server under test did not start*"])
    assert result.stdout.str().count("did not start:") <= 2, result.stdout.str()  # the error and its summary line
    assert elapsed < 60, elapsed


def test_6_relative_paths_in_the_server_command_resolve_from_where_pytest_started(tmp_path: Path) -> None:
    (tmp_path / "myserver.py").write_text("")
    kind, _ = parse_server("python myserver.py --listen {listen}", base=str(tmp_path))
    assert shlex.split(kind) == ["python", str(tmp_path / "myserver.py"), "--listen", "{listen}"]
    with pytest.raises(pytest.UsageError, match=r"missing\.py does not exist \(relative paths resolve from"):
        parse_server("python missing.py --listen {listen}", base=str(tmp_path))


def test_6_the_example_adapter_ships_with_the_package() -> None:
    from pytest_execserver.examples import ws_client

    assert callable(ws_client.main)


def test_7_the_unconfined_warning_is_given_once(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_u="async def test_a(exec_client):\n    await exec_client.run(['true'])\n")
    result = inner("--execserver-unconfined", "--execserver-toxiproxy", "embedded", subprocess=True)
    result.assert_outcomes(passed=1, warnings=1)  # the config-time one; not again when the server starts


def test_7_a_typo_in_a_decorator_is_one_message(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_d='from pytest_execserver import fault\n\n@fault("latency", msx=50)\n'
                               'async def test_a(exec_client):\n    pass\n')
    result = inner()
    text = result.stdout.str()
    assert "unknown parameter(s) msx" in text
    assert "direct cause" not in text and "During handling" not in text, text
    assert text.count("unknown parameter(s) msx") <= 2  # the error and its one-line summary
