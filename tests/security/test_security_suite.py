"""The shipped security suite (``pytest --pyargs pytest_execserver.suites.security``) holds on the reference
server and codex 0.171.0, and each of its cases fires on a deliberately weak reference server
(``--inject-bug KIND``): the case fails, and its message says what the server did and what codex does."""

from __future__ import annotations

import shlex
import sys

import pytest

CASES = 70  # the suite's cases when every auth mode is available


def _run(pytester: pytest.Pytester, server: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--pyargs",
                                         "pytest_execserver.suites.security", "--execserver-server", server,
                                         *args, timeout=600)


@pytest.mark.slow
def test_suite_holds_on_the_reference_server(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "ref")
    outcomes = result.parseoutcomes()
    assert set(outcomes) == {"passed"} and outcomes["passed"] >= CASES, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*security: ref*", f"{outcomes['passed']}/{outcomes['passed']} cases hold"])


@pytest.mark.slow
@pytest.mark.codex
def test_suite_holds_on_codex(pytester: pytest.Pytester) -> None:
    from pytest_execserver.servers.codex import CodexUnavailable, codex_binary

    try:
        codex_binary("0.171.0")
    except CodexUnavailable as exc:
        pytest.skip(f"codex 0.171.0 unavailable: {exc}")
    result = _run(pytester, "codex@0.171.0")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= CASES


def test_a_command_server_with_codex_flags_is_tested(pytester: pytest.Pytester) -> None:
    command = shlex.join([sys.executable, "-m", "execserver_ref"]) + " --listen {listen}"
    result = _run(pytester, command, "-k", "wrong-token or valid or origin")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 7, result.stdout.str()[-2000:]


def test_a_server_without_an_auth_mode_skips_its_cases(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "ref", "--security-signed-args", "none", "-k", "signed_bearer and (valid or garbage)")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 2 and "passed" not in outcomes, result.stdout.str()[-2000:]


PROC_ESCAPE = "test_sandboxed_process_cannot_write_outside_writable_roots"
FS_ESCAPE = "test_sandboxed_fs_request_cannot_write_outside_writable_roots"

# bug -> (-k selection, tests that must fail, a phrase of their account)
WEAK_SERVERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "accept-any-token": (
        "capability_token or signed_bearer",
        ("test_capability_token[[]wrong-token[]]", "test_capability_token[[]token-in-query-string[]]",
         "test_signed_bearer_token[[]expired-long-ago[]]", "test_signed_bearer_token[[]wrong-key[]]",
         "test_signed_bearer_token[[]rs256[]]", "test_signed_bearer_token[[]hs512-same-secret[]]",
         "test_signed_bearer_token[[]garbage[]]", "test_signed_bearer_token[[]no-authorization[]]"),
        "ACCEPTED a request it must reject",
    ),
    "skip-exp-check": (
        "expired or skew",
        ("test_signed_bearer_token[[]expired-long-ago[]]", "test_signed_bearer_token[[]expired-past-skew[]]",
         "test_configured_clock_skew[[]skew-0-exp-10s-ago-rejected[]]"),
        "codex 0.171.0 answers 401 'expired websocket jwt'",
    ),
    "skip-aud-check": ("aud", ("test_signed_bearer_token[[]missing-aud[]]", "test_signed_bearer_token[[]wrong-aud[]]"),
                       "websocket jwt audience mismatch"),
    "accept-alg-none": ("alg", ("test_signed_bearer_token[[]alg-none[]]",
                                "test_signed_bearer_token[[]alg-none-with-signature[]]"),
                        "codex 0.171.0 answers 401 'invalid websocket jwt'"),
    "leaky-token-compare": ("rejection_time", ("test_capability_token_rejection_time_does_not_depend_on_the_guess",),
                            "the comparison leaks how much of the token was guessed"),
    "ignore-origin": ("origin", ("test_browser_origin_is_refused[[]http://evil.example[]]",
                                 "test_browser_origin_is_refused[[]null[]]",
                                 "test_browser_origin_with_a_valid_token_is_refused"), "codex 0.171.0 answers 403"),
    "no-frame-limit": ("frame_over", ("test_frame_over_the_limit_is_refused",),
                       "a 20 MiB frame was parsed and answered"),
    "leak-fds": ("many", ("test_many_connections_are_served_and_released",
                          "test_many_processes_from_one_client_are_served_and_released"), "they leak"),
    "unbounded-outbound": ("never_reads", ("test_client_that_never_reads_does_not_grow_server_memory",),
                           "it buffers output for a reader that does not read"),
    "ignore-sandbox": ("escape", (f"{PROC_ESCAPE}[[]symlink-in-writable-root[]]", f"{PROC_ESCAPE}[[]dot-dot[]]",
                                  f"{PROC_ESCAPE}[[]absolute-path[]]", f"{FS_ESCAPE}[[]write-through-symlink[]]",
                                  f"{FS_ESCAPE}[[]remove-through-symlink[]]", f"{FS_ESCAPE}[[]copy-into-symlink[]]"),
                       "read-only ro/"),
}


@pytest.mark.parametrize("bug", sorted(WEAK_SERVERS))
def test_each_case_fires_on_a_weak_server(bug: str, pytester: pytest.Pytester) -> None:
    selection, failing, phrase = WEAK_SERVERS[bug]
    result = _run(pytester, f"ref --inject-bug {bug}", "-k", selection)
    assert result.parseoutcomes().get("failed", 0) >= len(failing), result.stdout.str()[-3000:]
    for name in failing:  # the suite's closing table: one line per case
        result.stdout.fnmatch_lines([f"{name} *failed"])
    result.stdout.fnmatch_lines([f"*{phrase}*"])
