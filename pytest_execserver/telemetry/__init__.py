"""Telemetry that explains where the time goes (issue 13).

- :mod:`.phases`: sub-phase spans that tile a whole (connect, each RPC, each process) and the whole's wall
  time measured independently of them (``time.perf_counter_ns`` at entry and exit).
- :mod:`.receiver`: an OTLP/HTTP receiver on loopback that collects the spans fixture-started servers
  export, and tees them on to the user's own collector.
- :mod:`.analysis`: sans-I/O analysis of one run's spans: coverage per whole, sub-phase statistics, and
  each RPC split into client-local, network and server time (client and server joined by trace id).
"""
