"""Reference exec-server, faithful to ``codex exec-server`` 0.169.0 (see docs/protocol.md)."""

__version__ = "0.1.0"
