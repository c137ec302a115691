"""Sign in, sign out, sign up."""

from __future__ import annotations

from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.security import forget, remember
from pyramid.view import view_config

from ..accounts import audit, throttle
from ..accounts import users as accounts
from ..security.acl import ACCOUNT, PUBLIC
from ..security.redirects import safe_next
from .helpers import FieldError, field, now

LOGIN_FAILED = "That username and password do not match an active account."


def _sign_in(request: Any, user: Any, target: str) -> HTTPSeeOther:
    """New session id (the old one dies), new CSRF token, then go on."""
    remember(request, str(user.id), user=user)
    new_csrf_token(request)
    audit.record(request, "login_success", user=user,
                 session_public_id=request.session.public_id)
    return HTTPSeeOther(location=target)


@view_config(route_name="login", request_method="GET", renderer="sessapp:templates/login.jinja2",
             permission=PUBLIC)
def login_form(request: Any) -> dict[str, Any]:
    return {"next": safe_next(request.GET.get("next")), "username": "", "error": None}


@view_config(route_name="login", request_method="POST", renderer="sessapp:templates/login.jinja2",
             permission=PUBLIC)
def login(request: Any) -> Any:
    try:
        username = field(request, "username", max_length=600)
        password = field(request, "password", max_length=4096)
        target = safe_next(field(request, "next", max_length=4096))
    except FieldError:
        username, password, target = "", "", None
    limits, when = request.registry.throttle_limits, now(request)
    form = {"next": target, "username": username[:150]}
    wait = throttle.login_retry_after(request.dbsession, limits, username,
                                      request.client_addr, when)
    if wait is not None:
        # Refused unchecked, and not counted: hammering cannot extend the lock.
        audit.record(request, "login_throttled", username=username, store=False)
        throttle.throttled_response(request.response, wait)
        return {**form, "error": throttle.wait_message(wait)}
    user = accounts.authenticate(
        request.dbsession, request.registry.password_hasher, username, password
    )
    if user is None:
        audit.record(request, "login_failure", username=username,
                     also=throttle.login_failure_hits(limits, username, request.client_addr, when))
        request.response.status = 422
        return {**form, "error": LOGIN_FAILED}
    return _sign_in(request, user, target or request.route_path("profile"))


@view_config(route_name="logout", request_method="GET", renderer="sessapp:templates/logout.jinja2",
             permission=PUBLIC)
def logout_form(request: Any) -> dict[str, Any]:
    return {}


@view_config(route_name="logout", request_method="POST", permission=ACCOUNT)
def logout(request: Any) -> HTTPSeeOther:
    audit.record(request, "logout", user=request.identity,
                 session_public_id=request.session.public_id)
    forget(request)
    response = HTTPSeeOther(location=request.route_path("home"))
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response


def _registration_open(request: Any) -> None:
    if not request.registry.sessapp_settings.registration:
        raise HTTPNotFound()


@view_config(route_name="register", request_method="GET",
             renderer="sessapp:templates/register.jinja2",
             permission=PUBLIC)
def register_form(request: Any) -> dict[str, Any]:
    _registration_open(request)
    return {"username": "", "errors": {}}


@view_config(route_name="register", request_method="POST",
             renderer="sessapp:templates/register.jinja2",
             permission=PUBLIC)
def register(request: Any) -> Any:
    _registration_open(request)
    try:
        username = field(request, "username", max_length=600)
        password = field(request, "password", max_length=4096)
    except FieldError as exc:
        request.response.status = 422
        return {"username": "", "errors": {"form": str(exc)}}
    limit, when = request.registry.throttle_limits["register_ip"], now(request)
    client = request.client_addr or "unknown"
    wait = limit.retry_after(request.dbsession, client, when)
    if wait is not None:
        audit.record(request, "register_throttled", username=username, store=False)
        throttle.throttled_response(request.response, wait)
        return {"username": username[:150], "errors": {"form": throttle.wait_message(wait)}}
    request.dbsession.add(limit.hit(client, when))
    try:
        user = accounts.create_user(
            request.dbsession,
            request.registry.password_hasher,
            request.registry.password_policy,
            username,
            password,
            when,
        )
    except accounts.AccountError as exc:
        request.response.status = 422
        return {"username": username[:150], "errors": {exc.field or "form": str(exc)}}
    audit.record(request, "register", user=user)
    return _sign_in(request, user, request.route_path("profile"))
