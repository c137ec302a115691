"""The admin pages: users, their sessions, recent auth events."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from ..accounts import admin as admin_actions
from ..accounts import users as accounts
from ..accounts.errors import AccountError
from ..security.acl import ADMIN
from .helpers import see_other


@view_config(route_name="admin", request_method="GET", renderer="sessapp:templates/admin.jinja2",
             permission=ADMIN)
def admin(request: Any) -> dict[str, Any]:
    return {**admin_actions.overview(request), "me": request.identity}


def _disable(request: Any, me: Any, user: Any) -> str:
    admin_actions.disable_user(request, me, user)
    return f"{user.username} is disabled; their sessions and tokens have ended."


def _enable(request: Any, me: Any, user: Any) -> str:
    admin_actions.enable_user(request, me, user)
    return f"{user.username} is enabled."


def _revoke_sessions(request: Any, me: Any, user: Any) -> str:
    ended, revoked = admin_actions.end_user_sessions(request, me, user)
    return f"Ended {ended} session(s) and {revoked} API token(s) of {user.username}."


def _reset_mfa(request: Any, me: Any, user: Any) -> str:
    admin_actions.reset_second_factors(request, me, user)
    return f"Every second factor of {user.username} has been removed."


ACTIONS = {"disable": _disable, "enable": _enable, "revoke-sessions": _revoke_sessions,
           "reset-mfa": _reset_mfa}


# Every admin action is a sudo action; the admin page is where /sudo sends one back.
@view_config(route_name="admin_user_action", request_method="POST", permission=ADMIN,
             sudo="admin")
def user_action(request: Any) -> HTTPSeeOther:
    action = ACTIONS.get(request.matchdict["action"])
    user = accounts.get_user(request.dbsession, request.matchdict["user_id"])
    if user is None or action is None:
        raise HTTPNotFound()
    try:
        request.session.flash(action(request, request.identity, user))
    except AccountError as exc:
        request.session.flash(str(exc), "error")
    return see_other(request, "admin")


@view_config(route_name="admin_revoke_everyone", request_method="POST", permission=ADMIN,
             sudo="admin")
def revoke_everyone(request: Any) -> HTTPSeeOther:
    ended = admin_actions.end_everyones_sessions(request, request.identity)
    request.session.flash(f"Ended {ended} session(s).")
    return see_other(request, "admin")
