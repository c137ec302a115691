"""Simulated browsers against real ``pserve`` processes, and the checks on them.

Used by ``python -m bench.reliability`` (``make load``) and by
``tests/test_load.py`` (through that command) and ``tests/test_faults.py``
(directly, to break things while the browsers run). Not used by the app.

- :mod:`~sessapp.testing.load.database`: a throwaway, migrated database per run,
  and its users;
- :mod:`~sessapp.testing.load.processes`: ``pserve`` processes on free loopback
  ports, stopped by PID; their logs and memory;
- :mod:`~sessapp.testing.load.browser`: one browser: a cookie jar kept by hand,
  one keep-alive connection, a hard cap on requests;
- :mod:`~sessapp.testing.load.checks`: the ledger every browser reports to
  (5xx, lost values, signed-out cookies answering as signed in, no answer);
- :mod:`~sessapp.testing.load.workload`: the mix: N people going round the site;
- :mod:`~sessapp.testing.load.races`: one session written by many requests at
  once, and sessions signed out while being written to.

Everything is bounded: every socket has a timeout, every join has one, and only
127.0.0.1 is used.
"""
