"""Tests of the reference exec-server (``execserver_ref``); ``conformance/`` compares it with codex."""
