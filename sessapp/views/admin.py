"""The admin pages: users, their sessions, recent auth events."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config
from sqlalchemy import delete

from ..accounts import audit
from ..accounts import users as accounts
from ..models import SessionRecord, session_store
from ..security.acl import ADMIN
from .helpers import now, see_other

RECENT_EVENTS = 50


@view_config(route_name="admin", request_method="GET", renderer="sessapp:templates/admin.jinja2",
             permission=ADMIN)
def admin(request: Any) -> dict[str, Any]:
    dbsession = request.dbsession
    return {
        "users": accounts.list_users(dbsession),
        "session_counts": session_store.count_by_user(dbsession, now(request)),
        "events": audit.recent(dbsession, limit=RECENT_EVENTS),
        "now": now(request),
        "me": request.identity,
    }


@view_config(route_name="admin_user_action", request_method="POST", permission=ADMIN)
def user_action(request: Any) -> HTTPSeeOther:
    action = request.matchdict["action"]
    user = accounts.get_user(request.dbsession, request.matchdict["user_id"])
    if user is None or action not in {"revoke-sessions", "disable", "enable"}:
        raise HTTPNotFound()
    me = request.identity
    if action == "disable":
        if user.id == me.id:
            request.session.flash("You cannot disable your own account.", "error")
            return see_other(request, "admin")
        accounts.disable(request.dbsession, user, now(request))
        message = f"{user.username} is disabled; their sessions and tokens have ended."
    elif action == "enable":
        accounts.enable(user)
        message = f"{user.username} is enabled."
    else:
        keep = request.session.public_id if user.id == me.id else None
        ended = accounts.end_sessions(request.dbsession, user, keep_public_id=keep)
        message = f"Ended {ended} session(s) of {user.username}."
    audit.record(request, f"admin_{action.replace('-', '_')}", user=user)
    request.session.flash(message)
    return see_other(request, "admin")


@view_config(route_name="admin_revoke_everyone", request_method="POST", permission=ADMIN)
def revoke_everyone(request: Any) -> HTTPSeeOther:
    """End every signed-in session but the admin's own current one."""
    result = request.dbsession.execute(
        delete(SessionRecord)
        .where(SessionRecord.user_id.is_not(None),
               SessionRecord.public_id != request.session.public_id)
        .execution_options(synchronize_session=False)
    )
    audit.record(request, "admin_revoke_everyone", user=request.identity)
    request.session.flash(f"Ended {result.rowcount} session(s).")
    return see_other(request, "admin")
