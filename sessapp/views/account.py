"""The signed-in user's own pages: profile, password, sessions and API tokens."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from .. import notices
from ..accounts import own_account
from ..accounts.errors import AccountError, NotFound, Throttled, form_errors
from ..i18n import _, ngettext, translate
from ..models.meta import parse_id
from ..security.acl import ACCOUNT, ISSUE_TOKEN
from .helpers import FieldError, field, flash, see_other, throttled, token_request


@view_config(route_name="profile", renderer="sessapp:templates/profile.jinja2", permission=ACCOUNT)
def profile(request: Any) -> dict[str, Any]:
    # Only what the session query already loaded: the signed-in page at its floor.
    return {"user": request.identity}


def _sessions_page(request: Any, errors: dict[str, str] | None = None, *,
                   token_errors: dict[str, str] | None = None,
                   created: Any = None) -> dict[str, Any]:
    """The sessions page; ``created`` is a new token and its secret, shown on
    this one response and kept nowhere else."""
    user = request.identity
    return {**own_account.overview(request, user), "user": user,
            "current": request.session.public_id, "errors": errors or {},
            "token_errors": token_errors or {}, "created": created}


def _refused(request: Any, exc: AccountError) -> dict[str, str]:
    """The form errors for a refusal, with the status it answers."""
    if isinstance(exc, Throttled):
        throttled(request, exc)
    else:
        request.response.status = 422
    return form_errors(exc)


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
        response = see_other(request, "home")
        notices.leave(request, response, "session-ended")
        return response
    flash(request, _("That session has been signed out."))
    return see_other(request, "sessions")


@view_config(route_name="sessions_revoke_others", request_method="POST",
             renderer="sessapp:templates/sessions.jinja2", permission=ACCOUNT,
             sudo="sessions")
def revoke_other_sessions(request: Any) -> Any:
    try:
        ended, revoked = own_account.end_other_sessions(
            request, request.identity, _current_password(request),
            revoke_tokens=request.POST.get("revoke_tokens") == "on")
    except AccountError as exc:
        return _sessions_page(request, _refused(request, exc))
    message = translate(request, ngettext("Signed out ${n} other session.",
                                          "Signed out ${n} other sessions.", ended))
    if revoked:
        message += " " + translate(request, ngettext("Revoked ${n} API token.",
                                                     "Revoked ${n} API tokens.", revoked))
    request.session.flash(message)
    return see_other(request, "sessions")


@view_config(route_name="token_create", request_method="POST",
             renderer="sessapp:templates/sessions.jinja2", permission=ISSUE_TOKEN,
             sudo="sessions")
def create_token(request: Any) -> dict[str, Any]:
    """Make a token from the sessions page. Its secret is in this response
    only: the page is rendered here rather than after a redirect, because a
    redirect would need the secret kept in the session row until the next
    request, and the database holds tokens only as hashes."""
    try:
        fields = token_request(request)
        token, secret = own_account.issue_token(request, request.identity, **fields)
    except FieldError as exc:
        request.response.status = 422
        return _sessions_page(request, token_errors={"form": exc.message})
    except AccountError as exc:
        return _sessions_page(request, token_errors=_refused(request, exc))
    request.response.status = 201
    return _sessions_page(request, created={"token": token, "secret": secret})


@view_config(route_name="token_revoke", request_method="POST", permission=ACCOUNT)
def revoke_token(request: Any) -> HTTPSeeOther:
    try:
        own_account.withdraw_token(request, request.identity,
                                   parse_id(request.matchdict["token_id"]))
    except NotFound:
        raise HTTPNotFound() from None
    flash(request, _("That API token has been revoked."))
    return see_other(request, "sessions")


@view_config(route_name="password", request_method="GET",
             renderer="sessapp:templates/password.jinja2",
             permission=ACCOUNT)
def password_form(request: Any) -> dict[str, Any]:
    return _password_page(request, {})


def _password_page(request: Any, errors: dict[str, str]) -> dict[str, Any]:
    return {"errors": errors, "password_rules": request.registry.password_policy.page_rules()}


@view_config(route_name="password", request_method="POST",
             renderer="sessapp:templates/password.jinja2",
             permission=ACCOUNT, sudo=True)
def change_password(request: Any) -> Any:
    try:
        new_password = field(request, "new_password", max_length=4096)
    except FieldError as exc:
        request.response.status = 422
        return _password_page(request, {"new_password": exc.message})
    try:
        own_account.change_password(request, request.identity, _current_password(request),
                                    new_password)
    except AccountError as exc:
        return _password_page(request, _refused(request, exc))
    flash(request, _("Password changed. Every other session has been signed out."))
    return see_other(request, "profile")
