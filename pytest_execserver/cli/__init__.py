"""Command-line tools: ``python -m pytest_execserver doctor`` and ``install`` (see ``__main__``)."""
