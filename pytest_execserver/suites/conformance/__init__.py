"""Conformance scenarios for any exec-server: ``pytest --pyargs pytest_execserver.suites.conformance``.

Each scenario drives the server under test (``--execserver-server ref|codex|"CMD"``) through raw websocket
connections and compares every observation with what ``codex exec-server`` does (README, "Test your own
server"). :mod:`pytest_execserver.suites.conformance.drift` runs them on two servers and prints what changed.
"""
