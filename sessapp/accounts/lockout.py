"""An account's lock for strangers: recorded once when it starts, lifted by an
operator.

A lock starts when a failed sign-in from a client without the account's device
cookie uses up the account's shared budget. Refused attempts are not counted,
so the budget is used up once per lock: one ``account_locked`` event each,
however long someone keeps hammering (two, rarely, when simultaneous attempts
race for the last free place: :mod:`.attempts`). The owner's own browsers and sessions are
not held by it (see :mod:`.throttle`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import User
from . import audit, throttle
from .users import find_user


def account_locked(request: Any, username: str) -> None:
    """Record that ``username``'s shared budget just ran out (named by the user
    when the account exists, by the name tried otherwise); the event tells the
    owner by mail (notices.EVENT_NOTICES)."""
    user = find_user(request.dbsession, username)
    audit.record(request, "account_locked", user=user, username=username)


def unlock(dbsession: Session, user: User) -> int:
    """Lift ``user``'s lock: the account's counted failures are forgotten.
    Returns how many there were."""
    return throttle.clear_account(dbsession, user.username)
