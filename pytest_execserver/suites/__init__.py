"""Test suites shipped in the package, runnable from any directory with ``pytest --pyargs``.

* :mod:`pytest_execserver.suites.chaos`: any client (``--execserver-client``) under every fault.
* :mod:`pytest_execserver.suites.conformance`: any server (``--execserver-server``) against codex's behaviour.
* :mod:`pytest_execserver.suites.security`: any server's auth, Origin, limits and sandbox (docs/security.md).
"""
