"""Our own client's chaos matrix: ``ExecClient`` in both modes under every fault, checked from its history.

Part of ``pytest --pyargs pytest_execserver.suites.chaos`` when the client under test is ours
(``--execserver-client ours``, the default); skipped for a client given as a command, whose matrix is the
parent package's (``exec_subject``).
"""
