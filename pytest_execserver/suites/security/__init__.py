"""Security suite for any exec-server: ``pytest --pyargs pytest_execserver.suites.security``.

Who may connect (capability token, signed JWT bearer token, Origin), what a connected client can make
the server hold (frame size, connections, processes, a client that never reads), and whether a sandboxed
process can write outside its writable roots. Each case's expected answer is what ``codex exec-server``
0.171.0 does; ``docs/security.md`` lists the cases, the options and the measured results.
"""
