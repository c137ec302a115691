"""Sign in, sign out, sign up: parse the form, call one use case, answer."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from .. import notices
from ..accounts import pending
from ..accounts.errors import AccountError, Throttled, form_errors
from ..accounts.registration import register as register_account
from ..accounts.second_factor import SecondFactorExpired, verify_second_factor
from ..accounts.signin import renew_sudo, sign_in, sign_out
from ..i18n import _
from ..security.acl import ENROL, PUBLIC
from ..security.redirects import safe_next
from .helpers import FieldError, field, flash, throttled


@view_config(route_name="login", request_method="GET", renderer="sessapp:templates/login.jinja2",
             permission=PUBLIC)
def login_form(request: Any) -> dict[str, Any]:
    """The sign-in form; with ``next`` (the forbidden view sent the visitor
    here) it says why."""
    target = safe_next(request.GET.get("next"))
    return {"next": target, "username": "", "error": None,
            "why": _("Please sign in to continue.") if target else None}


@view_config(route_name="login", request_method="POST", renderer="sessapp:templates/login.jinja2",
             permission=PUBLIC)
def login(request: Any) -> Any:
    try:
        username = field(request, "username", max_length=600)
        password = field(request, "password", max_length=4096)
        target = safe_next(field(request, "next", max_length=4096))
    except FieldError:
        username, password, target = "", "", None
    form = {"next": target, "username": username[:150]}
    try:
        outcome = sign_in(request, username, password, target)
    except Throttled as exc:
        throttled(request, exc)
        return {**form, "error": exc.message}
    except AccountError as exc:
        request.response.status = 422
        return {**form, "error": exc.message}
    if outcome.second_factor_due:
        # next rides along in the address for the reader; the half-signed-in
        # state holds the checked copy that the second step goes to.
        query = {"next": target} if target else {}
        return HTTPSeeOther(location=request.route_path("login_mfa", _query=query))
    if outcome.must_enrol:
        return HTTPSeeOther(location=request.route_path("mfa_totp"))
    return HTTPSeeOther(location=target or request.route_path("profile"))


@view_config(route_name="login_mfa", request_method="GET",
             renderer="sessapp:templates/login_mfa.jinja2", permission=PUBLIC)
def login_mfa_form(request: Any) -> Any:
    state = pending.current(request)
    if state is None:
        return HTTPSeeOther(location=request.route_path("login"))
    return {"error": None, "has_passkey": state.user.passkey_count > 0}


@view_config(route_name="login_mfa", request_method="POST",
             renderer="sessapp:templates/login_mfa.jinja2", permission=PUBLIC)
def login_mfa(request: Any) -> Any:
    """The second step of signing in: a TOTP or recovery code."""
    try:
        code = field(request, "code", max_length=100)
    except FieldError:
        code = ""
    try:
        target = verify_second_factor(request, code)
    except SecondFactorExpired as exc:
        flash(request, exc.message, "error")
        return HTTPSeeOther(location=request.route_path("login"))
    except Throttled as exc:
        throttled(request, exc)
        return {"error": exc.message}
    except AccountError as exc:
        request.response.status = 422
        return {"error": exc.message}
    return HTTPSeeOther(location=target or request.route_path("profile"))


@view_config(route_name="sudo", request_method="GET", renderer="sessapp:templates/sudo.jinja2",
             permission=ENROL)
def sudo_form(request: Any) -> dict[str, Any]:
    return {"next": safe_next(request.GET.get("next")), "errors": {},
            "has_totp": request.identity.totp_enabled_at is not None}


@view_config(route_name="sudo", request_method="POST", renderer="sessapp:templates/sudo.jinja2",
             permission=ENROL)
def sudo(request: Any) -> Any:
    """Renew sudo mode with the password or a TOTP code, then go back."""
    user = request.identity
    try:
        password = field(request, "password", max_length=4096)
        code = field(request, "code", max_length=100)
        target = safe_next(field(request, "next", max_length=4096))
    except FieldError:
        password, code, target = "", "", None
    form = {"next": target, "has_totp": user.totp_enabled_at is not None}
    try:
        renew_sudo(request, user, password=password, code=code)
    except Throttled as exc:
        throttled(request, exc)
        return {**form, "errors": {exc.field or "form": exc.message}}
    except AccountError as exc:
        request.response.status = 422
        return {**form, "errors": {exc.field or "form": exc.message}}
    return HTTPSeeOther(location=target or request.route_path("profile"))


@view_config(route_name="logout", request_method="GET", renderer="sessapp:templates/logout.jinja2",
             permission=PUBLIC)
def logout_form(request: Any) -> dict[str, Any]:
    return {}


@view_config(route_name="logout", request_method="POST", permission=ENROL)
@view_config(route_name="logout", request_method="POST", permission=PUBLIC,
             half_signed_in=True)
def logout(request: Any) -> HTTPSeeOther:
    """Signs out, or ends a half-done sign-in (password given, factor owed)."""
    sign_out(request, request.identity)
    response = HTTPSeeOther(location=request.route_path("home"))
    notices.leave(request, response, "signed-out")
    # Not "cookies": a browser would drop the device cookie too, and with it the
    # owner's way past a lock made by someone else. The session cookie is
    # expired by name instead.
    response.headers["Clear-Site-Data"] = '"storage"'
    return response


def _registration_open(request: Any) -> None:
    if not request.registry.sessapp_settings.registration:
        raise HTTPNotFound()


def _register_page(request: Any, username: str = "", email: str = "",
                   errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"username": username[:150], "email": email[:320], "errors": errors or {},
            "email_required": request.registry.sessapp_settings.auth.email_required,
            "password_rules": request.registry.password_policy.page_rules()}


@view_config(route_name="register", request_method="GET",
             renderer="sessapp:templates/register.jinja2",
             permission=PUBLIC)
def register_form(request: Any) -> dict[str, Any]:
    _registration_open(request)
    return _register_page(request)


@view_config(route_name="register", request_method="POST",
             renderer="sessapp:templates/register.jinja2",
             permission=PUBLIC)
def register(request: Any) -> Any:
    _registration_open(request)
    try:
        username = field(request, "username", max_length=600)
        password = field(request, "password", max_length=4096)
        email = field(request, "email", max_length=320)
    except FieldError as exc:
        request.response.status = 422
        return _register_page(request, errors={"form": exc.message})
    try:
        user = register_account(request, username, password, email)
    except Throttled as exc:
        throttled(request, exc)
        return _register_page(request, username, email, {"form": exc.message})
    except AccountError as exc:
        request.response.status = 422
        return _register_page(request, username, email, form_errors(exc))
    flash(request, _("Welcome, ${name}! Your account is ready and you are signed in.",
                     mapping={"name": user.username}))
    return HTTPSeeOther(location=request.route_path("profile"))
