"""The signed-in user's own pages: profile, password, sessions."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from ..accounts import own_account
from ..accounts.errors import AccountError, NotFound, Throttled
from ..security.acl import ACCOUNT
from .helpers import FieldError, field, see_other, throttled


@view_config(route_name="profile", renderer="sessapp:templates/profile.jinja2", permission=ACCOUNT)
def profile(request: Any) -> dict[str, Any]:
    # Only what the session query already loaded: the signed-in page at its floor.
    return {"user": request.identity}


def _sessions_page(request: Any, errors: dict[str, str] | None = None) -> dict[str, Any]:
    user = request.identity
    return {**own_account.overview(request, user), "user": user,
            "current": request.session.public_id, "errors": errors or {}}


def _refused(request: Any, exc: AccountError) -> dict[str, str]:
    """The form errors for a refusal, with the status it answers."""
    if isinstance(exc, Throttled):
        throttled(request, exc)
    else:
        request.response.status = 422
    return {exc.field or "form": str(exc)}


def _current_password(request: Any) -> str:
    try:
        return field(request, "current_password", max_length=4096)
    except FieldError:
        return ""


@view_config(route_name="sessions", request_method="GET",
             renderer="sessapp:templates/sessions.jinja2",
             permission=ACCOUNT)
def sessions(request: Any) -> dict[str, Any]:
    return _sessions_page(request)


@view_config(route_name="session_revoke", request_method="POST", permission=ACCOUNT)
def revoke_session(request: Any) -> HTTPSeeOther:
    try:
        was_current = own_account.end_session(request, request.identity,
                                              request.matchdict["public_id"])
    except NotFound:
        raise HTTPNotFound() from None
    if was_current:
        return see_other(request, "home")
    request.session.flash("That session has been signed out.")
    return see_other(request, "sessions")


@view_config(route_name="sessions_revoke_others", request_method="POST",
             renderer="sessapp:templates/sessions.jinja2", permission=ACCOUNT)
def revoke_other_sessions(request: Any) -> Any:
    try:
        ended = own_account.end_other_sessions(request, request.identity,
                                               _current_password(request))
    except AccountError as exc:
        return _sessions_page(request, _refused(request, exc))
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
    try:
        new_password = field(request, "new_password", max_length=4096)
    except FieldError as exc:
        request.response.status = 422
        return {"errors": {"new_password": str(exc)}}
    try:
        own_account.change_password(request, request.identity, _current_password(request),
                                    new_password)
    except AccountError as exc:
        return {"errors": _refused(request, exc)}
    request.session.flash("Password changed. Every other session has been signed out.")
    return see_other(request, "profile")
