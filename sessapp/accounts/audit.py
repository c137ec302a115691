"""Auth events: a row in ``auth_events`` and one structured log record each.

Successes are written in the request's transaction, so they vanish with a
rolled-back request, as the change they describe does. Failures (a wrong
password, a CSRF rejection, a refused page) are written in a short transaction
of their own once the request's has ended, because the request that provoked
them is often rolled back: the trace must survive it.

Refusals that anyone can cause at will, without credentials (a bogus bearer
token, a forged form, a page that needs signing in), are always logged but
stored only up to ``auth.refusals_stored_per_ip`` rows per client IP per
throttle window (:func:`record_refusal`): enough evidence of who is knocking,
and no way to grow the table without bound or push real events off ``/admin``.

Log records are one JSON object per line, UTC, with the request id and the
client IP. No password, token or session token ever appears: a session is named
by its public id. JSON string escaping keeps a CR/LF in a username from forging
a second line.
"""

from __future__ import annotations

import getpass
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pyramid_retry import is_error_retryable
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from ..clock import get_clock
from ..models import AuthEvent, write_apart
from . import notices, outbox

if TYPE_CHECKING:
    from pyramid.request import Request

log = logging.getLogger("sessapp.audit")

USERNAME_MAX = 150
USER_AGENT_MAX = 300
FAILURES = frozenset({
    "login_failure", "login_throttled", "reauth_failure", "csrf_failure", "forbidden",
    "register_throttled", "api_token_throttled", "bearer_refused", "account_locked",
    "passkey_failure", "passkey_counter_regressed",
    "sudo_failure", "mfa_failure",
})


def _event_row(request: Request, event: str, now: datetime, user: Any, username: str | None,
               session_public_id: str | None) -> AuthEvent:
    name = user.username if user is not None else (username or None)
    agent = request.user_agent
    return AuthEvent(
        occurred_at=now,
        event=event,
        user_id=None if user is None else user.id,
        # PostgreSQL text cannot hold NUL: a hostile name must not cost the row
        # (nor the throttle counts written with it).
        username=None if name is None else name[:USERNAME_MAX].replace("\x00", "\ufffd"),
        ip=request.client_addr,
        user_agent=None if agent is None else agent[:USER_AGENT_MAX],
        session_public_id=session_public_id,
    )


def recent(dbsession: Any, *, user_id: int | None = None, limit: int = 50) -> list[AuthEvent]:
    """The newest events, all of them or one user's."""
    query = select(AuthEvent).order_by(AuthEvent.occurred_at.desc(), AuthEvent.id.desc())
    if user_id is not None:
        query = query.where(AuthEvent.user_id == user_id)
    return list(dbsession.scalars(query.limit(limit)))


def page(dbsession: Any, *, user_id: int | None = None, username: str | None = None,
         event: str | None = None, offset: int = 0, limit: int = 50) -> list[AuthEvent]:
    """Newest first, ``limit`` events from ``offset`` on, narrowed to one kind
    and to one person: the account ``user_id`` and any attempt made under the
    name ``username`` (failed sign-ins for a name have no account)."""
    query = select(AuthEvent).order_by(AuthEvent.occurred_at.desc(), AuthEvent.id.desc())
    if user_id is not None and username is not None:
        query = query.where(or_(AuthEvent.user_id == user_id, AuthEvent.username == username))
    elif user_id is not None:
        query = query.where(AuthEvent.user_id == user_id)
    elif username is not None:
        query = query.where(AuthEvent.username == username)
    if event is not None:
        query = query.where(AuthEvent.event == event)
    return list(dbsession.scalars(query.offset(offset).limit(limit)))


def kinds(dbsession: Any) -> list[str]:
    """Every kind of event stored, for a filter to offer."""
    return sorted(dbsession.scalars(select(AuthEvent.event).distinct()))


def log_line(request: Request, event: str, now: datetime, **fields: Any) -> str:
    record = {
        "ts": now.isoformat(timespec="milliseconds") + "Z",
        "event": event,
        "request_id": getattr(request, "request_id", None),
        "ip": request.client_addr,
        "method": request.method,
        "path": request.environ.get("PATH_INFO", ""),
        **fields,
    }
    return json.dumps(record, ensure_ascii=True, default=str)


def record(
    request: Request,
    event: str,
    *,
    user: Any = None,
    username: str | None = None,
    session_public_id: str | None = None,
    store: bool = True,
    also: list[Any] | None = None,
) -> None:
    """Record one auth event (see the module docstring for which transaction).

    ``store=False`` logs without a row: for events any anonymous visitor can
    cause at will, where a row each would let them fill the table. ``also``
    names more rows to write with the event (throttle counts of a failure).
    """
    row = _logged_row(request, event, user, username, session_public_id)
    if not store:
        return
    rows = [row, *(also or [])]
    # The owner is told by mail of the events listed in notices.EVENT_NOTICES.
    mail = notices.for_event(request, event, user) if outbox.enabled(request) else []
    if event not in FAILURES:
        request.dbsession.add_all(rows)
        outbox.queue(request, mail)
        return
    request.add_finished_callback(lambda finished: _store_apart(finished, event, rows))
    outbox.queue_apart(request, mail)


def _logged_row(request: Request, event: str, user: Any, username: str | None,
                session_public_id: str | None) -> AuthEvent:
    """Log the event; return the row that would store it."""
    now = get_clock(request.registry).now()
    row = _event_row(request, event, now, user, username, session_public_id)
    level = logging.WARNING if event in FAILURES else logging.INFO
    log.log(level, log_line(request, event, now, user_id=row.user_id, username=row.username,
                            session=session_public_id))
    return row


def record_refusal(request: Request, event: str, *, username: str | None = None) -> None:
    """Record a refusal of a request without valid credentials: always logged,
    stored apart (as failures are) only while the client IP has allowance left
    in the window. Each stored row is counted by a throttle hit, so the check
    is one indexed query, and neither table grows past the allowance. (Refusals
    from one IP stored at the same instant may each see the last free place:
    the bound is then the allowance plus the requests in flight at once.)"""
    row = _logged_row(request, event, None, username, None)
    request.add_finished_callback(lambda finished: _store_within_allowance(finished, event, row))


def _store_within_allowance(request: Request, event: str, row: AuthEvent) -> None:
    exception = getattr(request, "exception", None)
    if exception is not None and is_error_retryable(request, exception):
        return  # the attempt is rerun and records its own outcome
    limit = request.registry.throttle_limits["refusal_ip"]
    if limit.max_hits == 0:
        return
    key = row.ip or "unknown"
    try:
        with request.registry["dbsession_factory"]() as dbsession, dbsession.begin():
            if limit.retry_after(dbsession, key, row.occurred_at) is None:
                dbsession.add_all([row, limit.hit(key, row.occurred_at)])
    except SQLAlchemyError as exc:
        log.error("could not store auth event %s: %s", event, type(exc).__name__)


SHELL = "sessapp-user"


def _operator() -> str:
    """The operating-system account running the command: who to ask about it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        return "unknown"


def record_from_shell(dbsession: Any, event: str, now: datetime, *, user: Any) -> None:
    """Record an account change made with ``sessapp-user``: a row in the command's
    own transaction (gone if it rolls back, as the change is) and a log record.
    There is no request, so no IP or request id; the operating-system account
    that ran the command stands in the user-agent column."""
    operator = _operator()
    dbsession.add(AuthEvent(
        occurred_at=now,
        event=event,
        user_id=user.id,
        username=user.username[:USERNAME_MAX],
        ip=None,
        user_agent=f"{SHELL}, run by {operator}"[:USER_AGENT_MAX],
        session_public_id=None,
    ))
    log.info(json.dumps({
        "ts": now.isoformat(timespec="milliseconds") + "Z",
        "event": event,
        "source": SHELL,
        "operator": operator,
        "user_id": user.id,
        "username": user.username,
    }, ensure_ascii=True, default=str))


def _store_apart(request: Request, event: str, rows: list[Any]) -> None:
    """Write a failure's rows once the request's own transaction has ended, in
    a transaction of their own: they stay whatever became of the request, and
    they cannot wait on a lock the request itself still holds (its session row,
    SQLite's write lock). Finished callbacks run before the response leaves, so
    the next request already counts them."""
    exception = getattr(request, "exception", None)
    if exception is not None and is_error_retryable(request, exception):
        return  # the attempt is rerun and records its own outcome
    try:
        write_apart(request.registry, rows)
    except SQLAlchemyError as exc:
        # The log line already holds the event; a failing database must not
        # turn a refused request into a server error.
        log.error("could not store auth event %s: %s", event, type(exc).__name__)
