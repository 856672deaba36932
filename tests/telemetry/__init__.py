"""Telemetry: sub-phase coverage, the OTLP receiver, the client/server join (issue 13)."""
