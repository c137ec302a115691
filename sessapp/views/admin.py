"""The admin pages: users, their sessions, recent auth events. Every action is
a sudo action: without a recent proof it goes to ``/sudo`` and back to
``/admin``; a ``current_password`` sent with it is judged instead."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from ..accounts import admin as admin_actions
from ..accounts import users as accounts
from ..accounts.errors import AccountError, Throttled
from ..security.acl import ADMIN
from .helpers import FieldError, field, see_other, throttled

ADMIN_PAGE = "sessapp:templates/admin.jinja2"


@view_config(route_name="admin", request_method="GET", renderer=ADMIN_PAGE, permission=ADMIN)
def admin(request: Any) -> dict[str, Any]:
    return {**admin_actions.overview(request), "me": request.identity}


def _current_password(request: Any) -> str:
    try:
        return field(request, "current_password", max_length=4096)
    except FieldError:
        return ""


def _refused(request: Any, exc: AccountError) -> Any:
    """A wrong current password: the admin page again, 422 (429 when
    throttled), nothing changed. Any other refusal: a notice on the page."""
    request.session.flash(str(exc), "error")
    if exc.field != "current_password":
        return see_other(request, "admin")
    if isinstance(exc, Throttled):
        throttled(request, exc)
    else:
        request.response.status = 422
    return admin(request)


def _disable(request: Any, me: Any, user: Any, password: str) -> str:
    admin_actions.disable_user(request, me, user, password)
    return f"{user.username} is disabled; their sessions and tokens have ended."


def _enable(request: Any, me: Any, user: Any, password: str) -> str:
    admin_actions.enable_user(request, me, user, password)
    return f"{user.username} is enabled."


def _revoke_sessions(request: Any, me: Any, user: Any, password: str) -> str:
    ended, revoked = admin_actions.end_user_sessions(request, me, user, password)
    return f"Ended {ended} session(s) and {revoked} API token(s) of {user.username}."


def _reset_mfa(request: Any, me: Any, user: Any, password: str) -> str:
    admin_actions.reset_second_factors(request, me, user, password)
    return f"Every second factor of {user.username} has been removed."


ACTIONS = {"disable": _disable, "enable": _enable, "revoke-sessions": _revoke_sessions,
           "reset-mfa": _reset_mfa}


@view_config(route_name="admin_user_action", request_method="POST", renderer=ADMIN_PAGE,
             permission=ADMIN, sudo="admin")
def user_action(request: Any) -> Any:
    action = ACTIONS.get(request.matchdict["action"])
    user = accounts.get_user(request.dbsession, request.matchdict["user_id"])
    if user is None or action is None:
        raise HTTPNotFound()
    try:
        request.session.flash(action(request, request.identity, user,
                                     _current_password(request)))
    except AccountError as exc:
        return _refused(request, exc)
    return see_other(request, "admin")


@view_config(route_name="admin_revoke_everyone", request_method="POST", renderer=ADMIN_PAGE,
             permission=ADMIN, sudo="admin")
def revoke_everyone(request: Any) -> Any:
    try:
        ended = admin_actions.end_everyones_sessions(request, request.identity,
                                                     _current_password(request))
    except AccountError as exc:
        return _refused(request, exc)
    request.session.flash(f"Ended {ended} session(s).")
    return see_other(request, "admin")
