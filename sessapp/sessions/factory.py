"""The ISessionFactory: reads the cookie, loads the row, and owns the cookie's flags."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pyramid.interfaces import ISessionFactory
from zope.interface import implementer

from ..clock import get_clock
from . import store
from .session import ServerSideSession
from .tokens import hash_token, is_well_formed

if TYPE_CHECKING:
    from pyramid.request import Request

    from ..settings import SessionSettings

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The longest a request waits for its turn on a session (as SQLite's busy timeout).
TURN_TIMEOUT = 10.0


class SessionTurns:
    """Within one process, requests that may write the same session take turns.

    On PostgreSQL and MySQL the row lock (``SELECT ... FOR UPDATE``) does this,
    across processes. SQLite has no row lock, and its one write lock is for the
    whole database: taking it at the first read (``BEGIN IMMEDIATE``) would make
    every request that may write wait for every other, a sign-in's password
    hashing included. SQLite is deployed as one process, so a lock per session
    token there does the same job. A request that waits past ``TURN_TIMEOUT``
    goes on without its turn: the versioned write still keeps it from losing an
    update.

    tests/test_session_turns.py fails without turns; so did, in 2 runs of 3, 8
    waitress threads writing one session (503 once retries ran out:
    tests/test_concurrency.py, ..._all_succeed_first_time[sqlite]). With
    ``BEGIN IMMEDIATE`` instead, that test passes, but 4 users storing session
    data while 2 others mistyped their current password at bcrypt cost 12 got
    10-11 writes through in 8 s (p50 2.0-3.4 s, worst 9.7-10.8 s: the busy
    timeout) against 365-461 (p50 60-79 ms) with turns; docs/performance.md.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # token hash -> [lock, requests using it]

    def take(self, key: str, timeout: float = TURN_TIMEOUT) -> Callable[[], None]:
        """Wait for ``key``'s turn; returns the function that ends it."""
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        acquired = entry[0].acquire(timeout=timeout)

        def release() -> None:
            if acquired:
                entry[0].release()
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]

        return release


@implementer(ISessionFactory)
class SessionFactory:
    """``request.session`` is built by this on first use, never before: a page
    that does not touch the session costs no query and sets no cookie."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self.turns = SessionTurns()

    @staticmethod
    def now(request: Request) -> Any:
        return get_clock(request.registry).now()

    def __call__(self, request: Request) -> ServerSideSession:
        now = self.now(request)
        token = request.cookies.get(self.settings.cookie_name)
        session = None
        stale_cookie = token is not None
        if is_well_formed(token):
            token_hash = hash_token(token)
            # A request that may write the session reads it locked: concurrent
            # writers of one session then take turns instead of racing.
            writing = request.method in UNSAFE_METHODS
            if writing and request.registry["db_engine"].dialect.name == "sqlite":
                end_turn = self.turns.take(token_hash)
                # Finished callbacks run after the transaction has ended.
                request.add_finished_callback(lambda _request: end_turn())
            loaded = store.load(request, token_hash, for_update=writing)
            if loaded is not None and not self.is_expired(loaded[0], now):
                session = ServerSideSession(request, self, now, *loaded)
                stale_cookie = False
        if session is None:
            session = ServerSideSession(request, self, now)
        request.add_response_callback(self._response_callback(session, stale_cookie))
        return session

    def is_expired(self, record: Any, now: Any) -> bool:
        idle = timedelta(seconds=self.settings.idle_timeout)
        absolute = timedelta(seconds=self.settings.absolute_timeout)
        return now >= record.last_seen_at + idle or now >= record.created_at + absolute

    def _response_callback(self, session: ServerSideSession, stale_cookie: bool) -> Any:
        def callback(request: Request, response: Any) -> None:
            response.vary = _add_vary(response.vary, "Cookie")
            session._apply_cookie(request, response)
            if stale_cookie and session._issued_token is None:
                # A dead or forged token: tell the browser to drop it.
                self.expire_cookie(response)

        return callback

    def set_cookie(self, response: Any, token: str | None) -> None:
        """Set the token, or (``None``) expire the cookie with the same flags: a
        ``__Host-`` cookie is only accepted, and so only removed, when Secure."""
        cookie = self.settings.cookie
        response.set_cookie(
            self.settings.cookie_name,
            token,
            max_age=self.settings.absolute_timeout if token else None,
            path=cookie.path,
            domain=cookie.domain,
            secure=cookie.secure,
            httponly=cookie.httponly,
            samesite=cookie.samesite,
        )

    def expire_cookie(self, response: Any) -> None:
        self.set_cookie(response, None)


def _add_vary(current: tuple[str, ...] | None, value: str) -> tuple[str, ...]:
    values = tuple(current or ())
    return values if value in values else (*values, value)
