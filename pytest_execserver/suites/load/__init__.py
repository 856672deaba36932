"""Load suite for any exec-server: ``pytest --pyargs pytest_execserver.suites.load`` (``--execserver-server``).

Short cases: concurrent clients byte-exact (closed and open loop), a reconnect storm (every client cut at
once through the Toxiproxy proxy, then flapping) recovering byte-exact, and a resource budget on the server
(nothing leaked, no process outliving its terminate). ``--load-scale F`` (or ``$EXECSERVER_LOAD_SCALE``)
multiplies the client counts; ``docs/load.md`` has the measured curves.
"""
