"""The limits and names every part of a load run shares."""

from __future__ import annotations

LOOPBACK = "127.0.0.1"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the test users' password
SESSION_COOKIE = "session"

CLIENT_TIMEOUT = 30.0  # one request, socket-level
STARTUP_TIMEOUT = 30.0  # pserve until /healthz answers
STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL
JOIN_TIMEOUT = 120.0  # past a phase's own deadline
DEFAULT_MAX_REQUESTS = 1_000_000  # hard cap for one database's run, all phases
MAX_DEAD_COOKIES = 2000  # signed-out cookies kept for the final re-check
RESYNC_TRIES = 100  # a browser finding out whether it is signed in, 0.2 s apart
