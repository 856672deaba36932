"""pytest-execserver plugin (being built)."""
