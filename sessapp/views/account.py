"""The signed-in user's own pages: profile, password, sessions."""

from __future__ import annotations

from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from ..accounts import api_tokens, audit, throttle
from ..accounts import users as accounts
from ..models import session_store
from ..security.acl import ACCOUNT
from .helpers import FieldError, field, now, see_other

RECENT_EVENTS = 10


@view_config(route_name="profile", renderer="sessapp:templates/profile.jinja2", permission=ACCOUNT)
def profile(request: Any) -> dict[str, Any]:
    # Only what the session query already loaded: the signed-in page at its floor.
    return {"user": request.identity}


def _sessions_page(request: Any, errors: dict[str, str] | None = None) -> dict[str, Any]:
    user = request.identity
    return {
        "user": user,
        "sessions": session_store.list_for_user(request.dbsession, user.id, now(request)),
        "current": request.session.public_id,
        "events": audit.recent(request.dbsession, user_id=user.id, limit=RECENT_EVENTS),
        "tokens": api_tokens.list_for_user(request.dbsession, user.id),
        "now": now(request),
        "errors": errors or {},
    }


@view_config(route_name="sessions", request_method="GET",
             renderer="sessapp:templates/sessions.jinja2",
             permission=ACCOUNT)
def sessions(request: Any) -> dict[str, Any]:
    return _sessions_page(request)


@view_config(route_name="session_revoke", request_method="POST", permission=ACCOUNT)
def revoke_session(request: Any) -> HTTPSeeOther:
    user = request.identity
    public_id = request.matchdict["public_id"]
    if public_id == request.session.public_id:
        audit.record(request, "session_revoked", user=user, session_public_id=public_id)
        request.session.invalidate()
        return see_other(request, "home")
    if not session_store.delete_by_public_id(request.dbsession, user.id, public_id):
        raise HTTPNotFound()
    audit.record(request, "session_revoked", user=user, session_public_id=public_id)
    request.session.flash("That session has been signed out.")
    return see_other(request, "sessions")


def _current_password_error(request: Any, user: Any) -> str | None:
    """None when ``current_password`` is right; else the message to show.

    Re-entering the password is a sign-in in disguise: it is throttled and
    audited like one, so a stolen session cannot be used to guess it.
    """
    limits, when = request.registry.throttle_limits, now(request)
    wait = throttle.login_retry_after(request.dbsession, limits, user.username,
                                      request.client_addr, when)
    if wait is not None:
        audit.record(request, "login_throttled", user=user, store=False)
        throttle.throttled_response(request.response, wait)
        return throttle.wait_message(wait)
    try:
        password = field(request, "current_password", max_length=4096)
    except FieldError:
        password = ""
    if request.registry.password_hasher.verify(password, user.password_hash):
        return None
    audit.record(request, "reauth_failure", user=user,
                 also=throttle.login_failure_hits(limits, user.username,
                                                  request.client_addr, when))
    request.response.status = 422
    return "That is not your current password."


@view_config(route_name="sessions_revoke_others", request_method="POST",
             renderer="sessapp:templates/sessions.jinja2", permission=ACCOUNT)
def revoke_other_sessions(request: Any) -> Any:
    user = request.identity
    error = _current_password_error(request, user)
    if error is not None:
        return _sessions_page(request, {"current_password": error})
    ended = accounts.end_sessions(request.dbsession, user,
                                  keep_public_id=request.session.public_id)
    audit.record(request, "sessions_revoked_others", user=user,
                 session_public_id=request.session.public_id)
    request.session.flash(f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return see_other(request, "sessions")


@view_config(route_name="password", request_method="GET",
             renderer="sessapp:templates/password.jinja2",
             permission=ACCOUNT)
def password_form(request: Any) -> dict[str, Any]:
    return {"errors": {}}


@view_config(route_name="password", request_method="POST",
             renderer="sessapp:templates/password.jinja2",
             permission=ACCOUNT)
def change_password(request: Any) -> Any:
    user = request.identity
    error = _current_password_error(request, user)
    if error is not None:
        return {"errors": {"current_password": error}}
    try:
        new_password = field(request, "new_password", max_length=4096)
        accounts.set_password(user, request.registry.password_hasher,
                              request.registry.password_policy, new_password, now(request))
    except (FieldError, accounts.AccountError) as exc:
        request.response.status = 422
        return {"errors": {"new_password": str(exc)}}
    accounts.end_sessions(request.dbsession, user, keep_public_id=request.session.public_id)
    request.session.rotate(user_id=user.id, identity=user)
    new_csrf_token(request)
    audit.record(request, "password_changed", user=user,
                 session_public_id=request.session.public_id)
    request.session.flash("Password changed. Every other session has been signed out.")
    return see_other(request, "profile")
