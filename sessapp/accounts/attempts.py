"""Taking an attempt from a throttle budget before the password is checked, so
that simultaneous attempts cannot all see the same free place.

Reading the count, hashing, then storing the failure (as sessapp once did) let
16-24 wrong passwords sent at once on one account all read "4 of 5 used" and
all be checked: 7 were. Here the attempt is counted first and judged after:

1. its throttle hits are inserted and committed, in a short transaction of
   their own;
2. then, in a new transaction, the hits in the window are counted, the
   attempt's own included. Over the budget, the attempt takes its hits back and
   is refused unchecked; within it, the password may be checked.

Why this and not a row lock or a conditional UPDATE: a budget key (a username
that may not exist, an IP, a device nonce) has no row of its own to lock or to
update, and a counter row per key would need an upsert per database and a
second table to prune. And it must not be held while bcrypt runs: a lock held
for the 0.3 s of a hash would queue every sign-in to the account behind it.
Committing before counting needs neither, and holds on every database
sessapp runs on (READ COMMITTED on PostgreSQL, REPEATABLE READ on MariaDB
when the count is the transaction's first read, SQLite's one writer) and
behind a transaction pooler: every attempt that goes on to the check
committed its hit before it counted, so the last of them to count saw all of
them, and saw no more than the budget. No more than the budget is ever
checked, whatever the number sent at once.

The price is paid only by simultaneous attempts on the last free places: each
may count the others' hits before they are taken back, and all may be refused
(the safe side). A retry a second later finds the place free again.

A refused attempt counts nothing (step 0: a budget already used up is refused
from one read, with no write), so hammering cannot extend a lock. A right
password gives its hits back: only failures are counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..models import ThrottleHit
from ..models.conflicts import is_conflict
from .throttle import KEY_MAX, Limit

# One budget an attempt is counted against: the limit and the key (username
# key, client IP, device nonce, session public id).
Charge = tuple[Limit, str]


@dataclass(frozen=True)
class Taken:
    """The outcome of :func:`take`: ``retry_after`` is None when the attempt may
    be checked; ``took_last`` names the scopes whose last free place this
    attempt took (if it fails, that budget is used up: a lock starts)."""

    retry_after: int | None
    hit_ids: tuple[int, ...] = ()
    took_last: frozenset[str] = frozenset()


def _key(key: str) -> str:
    return key[:KEY_MAX]


def _wait(limit: Limit, occurred: Sequence[datetime], now: datetime) -> int:
    """Seconds until the oldest of a full budget's hits leaves the window; 1 when
    the budget is full only with attempts being made at this moment."""
    if len(occurred) < limit.max_hits:
        return 1
    frees_at = occurred[limit.max_hits - 1] + timedelta(seconds=limit.window)
    return max(1, math.ceil((frees_at - now).total_seconds()))


def take(request: Any, charges: Sequence[Charge], now: datetime) -> Taken:
    """Count one attempt against every budget in ``charges``, atomically as
    explained in the module docstring. Refused (``retry_after`` set) when any
    budget is used up; nothing stays counted then."""
    _check_no_write_yet(request.dbsession)
    with request.dbsession.no_autoflush:
        for limit, key in charges:  # step 0: no write while a budget is plainly used up
            wait = limit.retry_after(request.dbsession, key, now)
            if wait is not None:
                return Taken(wait)
    factory = request.registry["dbsession_factory"]

    def insert(dbsession: Session) -> tuple[int, ...]:
        hits = [limit.hit(key, now) for limit, key in charges]
        dbsession.add_all(hits)
        dbsession.flush()
        return tuple(hit.id for hit in hits)

    ids = _on_its_own(factory, insert)
    took_last: set[str] = set()
    wait = None

    def count(dbsession: Session) -> None:
        nonlocal wait
        took_last.clear()
        wait = None
        for (limit, key), own in zip(charges, ids, strict=True):
            counted = _counted(dbsession, limit, key, now)
            if len(counted) > limit.max_hits:
                others = [at for hit_id, at in counted if hit_id not in ids]
                wait = max(wait or 0, _wait(limit, others, now))
            elif len(counted) == limit.max_hits and own == max(hit_id for hit_id, _ in counted):
                # Of attempts that saw the same full budget, only the one with
                # the highest id. (One that counted a racing attempt's hit
                # before it was taken back may claim the lock early, and the
                # attempt that then fills the place claims it again: two
                # records of one lock, only when attempts race for the last
                # place.)
                took_last.add(limit.scope)

    _on_its_own(factory, count)
    if wait is not None:
        give_back(request, ids)
        return Taken(wait)
    return Taken(None, ids, frozenset(took_last))


class WroteFirst(RuntimeError):
    """A use case counted an attempt after its request wrote to SQLite."""


def _check_no_write_yet(dbsession: Session) -> None:
    """On SQLite a request that has written holds the one write lock until it
    ends, so the attempt's own transaction would wait for it (the busy timeout,
    10 s) and fail. Use cases count attempts before they change anything; one
    that does not is a programming error, refused at once."""
    if _wrote_to_sqlite(dbsession):
        raise WroteFirst("count the attempt before the request writes anything")


def _wrote_to_sqlite(dbsession: Session) -> bool:
    """Whether ``dbsession`` holds SQLite's write lock (pysqlite begins a
    transaction only at the first write)."""
    if dbsession.get_bind().dialect.name != "sqlite" or not dbsession.in_transaction():
        return False
    return bool(dbsession.connection().connection.dbapi_connection.in_transaction)


def _counted(dbsession: Session, limit: Limit, key: str,
             now: datetime) -> list[tuple[int, datetime]]:
    """The newest hits in ``limit``'s window for ``key``, up to one more than
    the budget (enough to tell that it is exceeded)."""
    since = now - timedelta(seconds=limit.window)
    rows = dbsession.execute(
        select(ThrottleHit.id, ThrottleHit.occurred_at)
        .where(ThrottleHit.scope == limit.scope, ThrottleHit.key == _key(key),
               ThrottleHit.occurred_at > since)
        .order_by(ThrottleHit.occurred_at.desc(), ThrottleHit.id.desc())
        .limit(limit.max_hits + 1)
    ).all()
    return [(hit_id, at) for hit_id, at in rows]


def give_back(request: Any, hit_ids: Sequence[int]) -> None:
    """Uncount an attempt that turned out not to be a failure (or was refused):
    its hits are deleted at once, in a transaction of their own, so the place is
    free for the next attempt whatever becomes of this request."""
    if not hit_ids:
        return
    statement = (delete(ThrottleHit).where(ThrottleHit.id.in_(list(hit_ids)))
                 .execution_options(synchronize_session=False))
    if _wrote_to_sqlite(request.dbsession):
        # The request holds SQLite's one write lock (a TOTP step claimed, say):
        # a transaction of its own would wait for it. SQLite runs one writer at
        # a time anyway, so the request's own transaction frees the place as
        # surely; should the request fail, the attempt stays counted.
        request.dbsession.execute(statement)
        return
    _on_its_own(request.registry["dbsession_factory"],
                lambda dbsession: dbsession.execute(statement))


# Short transactions of their own may meet another in the way (a serialization
# failure or deadlock under SERIALIZABLE or on MariaDB): each is small and safe
# to run again, so it is, rather than failing the whole request.
_OWN_TRIES = 5


def _on_its_own(factory: Any, work: Any) -> Any:
    """Run ``work(dbsession)`` in a transaction of its own, committed; again,
    on fresh state, when another transaction got in its way."""
    for attempt in range(_OWN_TRIES):
        try:
            with factory() as dbsession, dbsession.begin():
                return work(dbsession)
        except DBAPIError as exc:
            if attempt == _OWN_TRIES - 1 or not is_conflict(exc):
                raise
    raise AssertionError("unreachable")
