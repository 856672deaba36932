"""Clients under test: the interface the harness drives, whatever language the client is written in.

A *subject* is "a client we drive": the harness tells it the ws:// URL to use (through the proxy), asks it
to run commands, and reads back an :class:`Outcome`. What the client really did on the wire is read from
the reference server's journal (:mod:`pytest_execserver.checks.journal`), never from the client's internals.

Implementations: ``ours`` (our :class:`~pytest_execserver.client.ExecClient`, per mode), ``subprocess``
(any program speaking the line protocol documented in the README, "Test your own client"), ``codex``
(the exec client inside the real Codex CLI, driven by a scripted model).
"""

from pytest_execserver.subjects.base import ClientUnderTest, Outcome, RunRequest, SubjectError, SubjectHang

__all__ = ["ClientUnderTest", "Outcome", "RunRequest", "SubjectError", "SubjectHang"]
