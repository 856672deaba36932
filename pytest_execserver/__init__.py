"""pytest-execserver: a pytest plugin and fault-injection harness for exec-servers."""
