"""What an admin does to other people's accounts, each audited under the name
of the account acted on. Every action needs a proof of identity
(``confirm_identity``): a ``current_password`` sent with it, or sudo mode."""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..i18n import _
from ..models import User, session_store
from . import audit, factors
from .errors import AccountError
from .signin import confirm_identity
from .users import disable, enable, end_sessions_and_tokens, find_user, list_users

RECENT_EVENTS = 50


def overview(request: Any, *, username: str | None = None, kind: str | None = None,
             page: int = 1) -> dict[str, Any]:
    """What the admin page shows: every user, their live session counts, and
    one page of auth events (newest first), of one person and one kind when
    asked: ``has_next`` says whether an older page exists."""
    dbsession, now = request.dbsession, get_clock(request.registry).now()
    user = find_user(dbsession, username) if username else None
    events = audit.page(dbsession, user_id=None if user is None else user.id,
                        username=username or None, event=kind,
                        offset=(page - 1) * RECENT_EVENTS, limit=RECENT_EVENTS + 1)
    return {
        "users": list_users(dbsession),
        "session_counts": session_store.count_by_user(dbsession, now),
        "events": events[:RECENT_EVENTS],
        "has_next": len(events) > RECENT_EVENTS,
        "kinds": audit.kinds(dbsession),
        "now": now,
    }


def disable_user(request: Any, admin: User, user: User, current_password: str = "") -> None:
    """Disable ``user``: sessions deleted and tokens revoked at once. An admin
    cannot disable their own account (nobody would be left to undo it)."""
    confirm_identity(request, admin, current_password)
    if user.id == admin.id:
        raise AccountError(_("You cannot disable your own account."))
    disable(request.dbsession, user, get_clock(request.registry).now())
    audit.record(request, "admin_disable", user=user)


def enable_user(request: Any, admin: User, user: User, current_password: str = "") -> None:
    confirm_identity(request, admin, current_password)
    enable(user)
    audit.record(request, "admin_enable", user=user)


def end_user_sessions(request: Any, admin: User, user: User,
                      current_password: str = "") -> tuple[int, int]:
    """End every session of ``user`` and revoke every API token at once (the
    admin's own current session spared when ``user`` is the admin); how many
    sessions and tokens ended."""
    confirm_identity(request, admin, current_password)
    keep = request.session.public_id if user.id == admin.id else None
    ended = end_sessions_and_tokens(request.dbsession, user, get_clock(request.registry).now(),
                                    keep_public_id=keep)
    audit.record(request, "admin_revoke_sessions", user=user)
    return ended


def end_everyones_sessions(request: Any, admin: User, current_password: str = "") -> int:
    """End every signed-in session but the admin's own current one."""
    confirm_identity(request, admin, current_password)
    ended = session_store.delete_signed_in(request.dbsession,
                                           except_public_id=request.session.public_id)
    audit.record(request, "admin_revoke_everyone", user=admin)
    return ended


def reset_second_factors(request: Any, admin: User, user: User,
                         current_password: str = "") -> None:
    """Remove every second factor of ``user`` (a lost phone): audited as
    ``admin_reset_mfa`` under ``user``'s name, and the user is told."""
    confirm_identity(request, admin, current_password)
    factors.reset(request, admin, user)
