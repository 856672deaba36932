"""The chaos matrix for any exec-server client: ``pytest --pyargs pytest_execserver.suites.chaos``.

Select the client with ``--execserver-client ours|ours:legacy-read|codex[@VERSION]|"CMD {url}"`` (README,
"Test your own client"). Each test runs workloads whose output is known through ``exec_subject`` while a fault
is active; the test asserts the Outcome, and the plugin checks the server's journal afterwards (byte-exact
delivery, one start per run, writes idempotent, session resumed, every failure reported within its deadline)
and the ``latency_budget`` markers over the journal's phases.
"""
