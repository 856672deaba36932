"""Examples shipped with the package: ``python -m pytest_execserver.examples.ws_client {url}`` is a complete
client adapter (the line protocol of README, "Test your own client") written directly on ``websockets``."""
