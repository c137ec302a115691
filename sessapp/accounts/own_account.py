"""What signed-in users see of and do to their own account: the overview of
their sessions, tokens and recent events; changing the password; ending one of
their sessions, or all but the current one."""

from __future__ import annotations

from typing import Any

from pyramid.csrf import new_csrf_token

from ..clock import get_clock
from ..models import User, session_store
from . import api_tokens, audit
from .errors import AccountError, NotFound
from .signin import reauthenticate
from .users import end_sessions, set_password

RECENT_EVENTS = 10


def overview(request: Any, user: User) -> dict[str, Any]:
    """What the sessions page shows: live sessions (newest first), API tokens,
    and the user's recent auth events."""
    dbsession, now = request.dbsession, get_clock(request.registry).now()
    return {
        "sessions": session_store.list_for_user(dbsession, user.id, now),
        "tokens": api_tokens.list_for_user(dbsession, user.id),
        "events": audit.recent(dbsession, user_id=user.id, limit=RECENT_EVENTS),
        "now": now,
    }


def change_password(request: Any, user: User, current_password: str, new_password: str) -> None:
    """After re-authentication: the new password, every other session ended, this
    one on a new id with a new CSRF token. Raises ``AccountError``/``Throttled``
    (field ``current_password`` or ``new_password``); nothing changes then."""
    reauthenticate(request, user, current_password)
    try:
        set_password(user, request.registry.password_hasher, request.registry.password_policy,
                     new_password, get_clock(request.registry).now())
    except AccountError as exc:
        raise AccountError(str(exc), "new_password") from None
    end_sessions(request.dbsession, user, keep_public_id=request.session.public_id)
    request.session.rotate(user_id=user.id, identity=user)
    new_csrf_token(request)
    audit.record(request, "password_changed", user=user,
                 session_public_id=request.session.public_id)


def end_session(request: Any, user: User, public_id: str) -> bool:
    """End one of ``user``'s sessions by its public id; True when it was the
    current one (the caller is then signed out). Raises :class:`NotFound` for a
    session that is not the user's."""
    if public_id == request.session.public_id:
        audit.record(request, "session_revoked", user=user, session_public_id=public_id)
        request.session.invalidate()
        return True
    if not session_store.delete_by_public_id(request.dbsession, user.id, public_id):
        raise NotFound("No such session.")
    audit.record(request, "session_revoked", user=user, session_public_id=public_id)
    return False


def end_other_sessions(request: Any, user: User, current_password: str) -> int:
    """After re-authentication, end every session of ``user`` but this one;
    returns how many ended."""
    reauthenticate(request, user, current_password)
    ended = end_sessions(request.dbsession, user, keep_public_id=request.session.public_id)
    audit.record(request, "sessions_revoked_others", user=user,
                 session_public_id=request.session.public_id)
    return ended
