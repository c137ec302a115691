"""Reliability under load: simulated browsers against real ``pserve`` processes.

``python -m bench.reliability`` (``make load``) runs, on each database named:

1. A *mix*: N concurrent simulated browsers, each its own user, doing what people
   do: register or sign in, browse signed-in pages (``/profile``, ``/sessions``),
   store session data (``POST /session-data`` with the page's CSRF token), read it
   back, sign out, and sign in again. Every value a browser was told was stored
   must be there when it reads its session back; every cookie it signed out with
   must answer as signed out (``/profile`` -> 303 to ``/login``).
2. While the mix runs, *one session under fire*: several sessions, each hammered
   by W threads at once, round after round, every thread storing its own key;
   every key must be there at the end. And *logout racing writes*: a session is
   signed out while W threads keep writing to it; nothing may bring it back.

It prints throughput, p50/p99 latency, the errors, and each app process's
resident memory at start and end, and exits non-zero if a value was lost, a
signed-out session answered as signed in, any answer was a 5xx, or any other
answer was not the one the contract promises.

Everything is bounded: a run stops at its deadline or at a hard cap on requests,
every socket has a timeout, every join has one. Only 127.0.0.1 is used. Each run
creates its own database (a temporary SQLite file, or a uniquely named database
on the PostgreSQL / MariaDB server) and drops it afterwards, and stops every
``pserve`` it started, by PID, whatever happened.

The simulated browsers, the ``pserve`` processes, the databases and the checks
live in :mod:`sessapp.testing.load` (``tests/test_faults.py`` uses them too);
this package holds the command: :mod:`bench.reliability.run` runs one database
and gathers its figures into a report, :mod:`bench.reliability.report` prints
the tables and writes the JSON, and ``__main__`` reads the options.
"""

