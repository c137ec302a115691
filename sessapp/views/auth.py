"""Sign in, sign out, sign up: parse the form, call one use case, answer."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from ..accounts.errors import AccountError, Throttled
from ..accounts.registration import register as register_account
from ..accounts.signin import sign_in, sign_out
from ..security.acl import ACCOUNT, PUBLIC
from ..security.redirects import safe_next
from .helpers import FieldError, field, throttled


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
    form = {"next": target, "username": username[:150]}
    try:
        sign_in(request, username, password)
    except Throttled as exc:
        throttled(request, exc)
        return {**form, "error": str(exc)}
    except AccountError as exc:
        request.response.status = 422
        return {**form, "error": str(exc)}
    return HTTPSeeOther(location=target or request.route_path("profile"))


@view_config(route_name="logout", request_method="GET", renderer="sessapp:templates/logout.jinja2",
             permission=PUBLIC)
def logout_form(request: Any) -> dict[str, Any]:
    return {}


@view_config(route_name="logout", request_method="POST", permission=ACCOUNT)
def logout(request: Any) -> HTTPSeeOther:
    sign_out(request, request.identity)
    response = HTTPSeeOther(location=request.route_path("home"))
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
            "email_required": request.registry.sessapp_settings.auth.email_required}


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
        return _register_page(request, errors={"form": str(exc)})
    try:
        register_account(request, username, password, email)
    except Throttled as exc:
        throttled(request, exc)
        return _register_page(request, username, email, {"form": str(exc)})
    except AccountError as exc:
        request.response.status = 422
        return _register_page(request, username, email, {exc.field or "form": exc.args[0]})
    return HTTPSeeOther(location=request.route_path("profile"))
