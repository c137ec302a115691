"""What signed-in users see of and do to their own account: the overview of
their sessions, tokens and recent events; changing the password; ending one of
their sessions, or all but the current one (and every API token with them);
making and withdrawing API tokens.

Making a token needs proof of identity (the current password), so a stolen
session cookie cannot be turned into a credential that outlives the session.
"""

from __future__ import annotations

from typing import Any

from pyramid.csrf import new_csrf_token

from ..clock import get_clock
from ..i18n import _
from ..models import ApiToken, User, session_store
from . import api_tokens, audit, one_time_links
from .errors import AccountError, FormErrors, NotFound, ProofRequired, Throttled
from .factor_policy import has_second_factor
from .password_policy import WeakPassword
from .scopes import parse_scopes
from .signin import confirm_identity
from .users import end_sessions, end_sessions_and_tokens, set_password

RECENT_EVENTS = 10


def overview(request: Any, user: User) -> dict[str, Any]:
    """What the sessions page shows: live sessions (newest first), API tokens,
    and the user's recent auth events."""
    dbsession, now = request.dbsession, get_clock(request.registry).now()
    return {
        "sessions": session_store.list_for_user(dbsession, user.id, now),
        "tokens": api_tokens.list_for_user(dbsession, user.id),
        "events": audit.recent(dbsession, user_id=user.id, limit=RECENT_EVENTS),
        "has_second_factor": has_second_factor(user),
        "now": now,
    }


def change_password(request: Any, user: User, current_password: str, new_password: str) -> None:
    """After re-authentication: the new password, every other session ended, this
    one on a new id with a new CSRF token. Raises ``AccountError``/``Throttled``
    (field ``current_password`` or ``new_password``), :class:`FormErrors`
    when both are wrong, or ``ProofRequired`` without a password outside sudo
    mode; nothing changes then."""
    # The new password is judged before the proof, so a form with both wrong
    # shows both; a throttled or missing proof stays an answer of its own.
    weak = None
    try:
        request.registry.password_policy.check(new_password, username=user.username)
    except WeakPassword as exc:
        weak = exc.message
    try:
        confirm_identity(request, user, current_password)
    except (Throttled, ProofRequired):
        raise
    except AccountError as exc:
        if weak is None:
            raise
        raise FormErrors({"current_password": exc.message, "new_password": weak}) from None
    if weak is not None:
        raise AccountError(weak, "new_password")
    set_password(user, request.registry.password_hasher, request.registry.password_policy,
                 new_password, get_clock(request.registry).now())
    end_sessions(request.dbsession, user, keep_public_id=request.session.public_id)
    # A reset link mailed before the change must not undo it.
    one_time_links.kill(request.dbsession, user.id, one_time_links.RESET,
                        get_clock(request.registry).now())
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
        raise NotFound(_("No such session."))
    audit.record(request, "session_revoked", user=user, session_public_id=public_id)
    return False


def end_other_sessions(request: Any, user: User, current_password: str, *,
                       revoke_tokens: bool = False) -> tuple[int, int]:
    """After re-authentication, end every session of ``user`` but this one, and
    with ``revoke_tokens`` every API token too; how many sessions and tokens
    ended. Needs a proof of identity, as :func:`change_password` does."""
    confirm_identity(request, user, current_password)
    keep = request.session.public_id
    if revoke_tokens:
        ended, revoked = end_sessions_and_tokens(
            request.dbsession, user, get_clock(request.registry).now(), keep_public_id=keep)
    else:
        ended, revoked = end_sessions(request.dbsession, user, keep_public_id=keep), 0
    audit.record(request, "sessions_revoked_others", user=user, session_public_id=keep)
    if revoke_tokens:
        audit.record(request, "api_tokens_revoked_all", user=user, session_public_id=keep)
    return ended, revoked


def issue_token(request: Any, user: User, name: Any, days: Any, scopes: Any,
                current_password: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``, after proof of identity: the token and its
    secret, shown this once.

    Raises ``ProofRequired`` without a current password, an ``AccountError``
    about ``current_password`` for a wrong one (counted by the throttle, like
    any re-authentication), an ``AccountError`` naming the field (``name``,
    ``expires_in_days``, ``scopes``) for a bad value, or :class:`Throttled`
    past the per-user creation limit. Nothing is created then.
    """
    confirm_identity(request, user, current_password)
    name, days = api_tokens.check_name_and_days(
        name, days, request.registry.sessapp_settings.auth.api_token_max_days)
    granted = parse_scopes(scopes, user.roles)
    limit = request.registry.throttle_limits["api_token_user"]
    now = get_clock(request.registry).now()
    wait = limit.retry_after(request.dbsession, str(user.id), now)
    if wait is not None:
        audit.record(request, "api_token_throttled", user=user, store=False)
        raise Throttled(_("Too many tokens created; try again later."), wait)
    limit.count(request.dbsession, str(user.id), now)
    created = api_tokens.create(request.dbsession, user, name, days, now, granted)
    # The owner is told by mail (notices.EVENT_NOTICES).
    audit.record(request, "api_token_created", user=user)
    return created


def withdraw_token(request: Any, user: User, token_id: int | None) -> None:
    """Revoke one of ``user``'s tokens: it stops working at once. Raises
    :class:`NotFound` for an id that is not one of theirs."""
    if token_id is None or not api_tokens.revoke(request.dbsession, user.id, token_id,
                                                 get_clock(request.registry).now()):
        raise NotFound(_("No such token."))
    audit.record(request, "api_token_revoked", user=user)
