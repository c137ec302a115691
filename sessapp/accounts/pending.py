"""The half-signed-in state: the right password was given, the second factor
is still owed.

It is a value in an *anonymous* session (``user_id`` stays NULL), so no security
policy sees an identity in it: no permission, no API, protected pages still send
the browser to the login page. It names the user, when the password was
checked and where to go next; it is good for :data:`LIFETIME` seconds, and it
dies with the session at sign-out or when the factor completes the sign-in
(which issues a new session id). Any factor completes it through
:func:`sessapp.accounts.second_factor.complete_second_factor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import get_clock
from ..models import User

KEY = "_mfa_pending"
LIFETIME = 5 * 60


@dataclass(frozen=True)
class Pending:
    user: User
    next: str | None


def begin(request: Any, user: User, target: str | None) -> None:
    """Start the half-signed-in state for ``user`` in a new anonymous session
    (a new id: nothing of an earlier session, signed in or not, is kept)."""
    session = request.session
    session.rotate(user_id=None, keep=[])
    session[KEY] = {"user_id": user.id, "since": get_clock(request.registry).now().isoformat(),
                    "next": target}


def current(request: Any) -> Pending | None:
    """The live half-signed-in state of this browser, or None (none, expired,
    or its user gone or disabled since)."""
    session = request.session
    if session.user_id is not None:
        return None
    state = session.get(KEY)
    if not isinstance(state, dict) or not isinstance(state.get("user_id"), int):
        return None
    try:
        since = datetime.fromisoformat(state["since"])
    except (KeyError, TypeError, ValueError):
        return None
    age = (get_clock(request.registry).now() - since).total_seconds()
    if not 0 <= age <= LIFETIME:
        return None
    user = request.dbsession.get(User, state["user_id"])
    if user is None or user.disabled:
        return None
    target = state.get("next")
    return Pending(user, target if isinstance(target, str) else None)


def is_present(request: Any) -> bool:
    """Whether the session holds a half-signed-in state, live or not (no query)."""
    return request.session.user_id is None and KEY in request.session


def clear(request: Any) -> None:
    if KEY in request.session:
        del request.session[KEY]
