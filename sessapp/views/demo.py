"""The public pages: home, the session-data demo, cookies, theme, language, health."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import schema
from ..accounts import own_account
from ..accounts.devices import cookie_name as device_cookie_name
from ..i18n import COOKIE_NAME as LANGUAGE_COOKIE
from ..i18n import LANGUAGES
from ..security.acl import PUBLIC
from ..security.csrf import has_bearer_credentials
from ..security.redirects import safe_next
from ..sessions import SessionDataError
from .helpers import FieldError, field, json_body, json_error

VALUES_KEY = "values"
THEMES = ("light", "dark")
REDACTED = "[redacted]"


@view_config(route_name="home", renderer="sessapp:templates/home.jinja2", permission=PUBLIC)
def home(request: Any) -> dict[str, Any]:
    """Anonymous: what sessapp is and the way in. Signed in: the user's
    sessions and latest account events at a glance."""
    # Without a session cookie this costs no query: the factory only looks up
    # tokens it was sent.
    user = request.identity
    if user is None or has_bearer_credentials(request):
        # A bearer token's page never reads sessions: it has none of its own.
        return {"user": user}
    return {**own_account.overview(request, user), "user": user,
            "current": request.session.public_id}


@view_config(route_name="session_data", request_method="GET", renderer="json",
             permission=PUBLIC)
def session_data_get(request: Any) -> dict[str, Any]:
    return dict(request.session.get(VALUES_KEY, {}))


@view_config(route_name="session_data", request_method="POST", permission=PUBLIC)
def session_data_post(request: Any) -> Any:
    try:
        body = json_body(request)
        key = field(request, "key", max_length=200)
        # The session's own size limit is the real bound (413 beyond it).
        limit = request.registry.sessapp_settings.session.max_size + 1
        value = body.get("value") if body is not None else field(
            request, "value", max_length=limit
        )
    except FieldError as exc:
        return json_error(422, str(exc))
    if not key:
        return json_error(422, "key is required.")
    values = dict(request.session.get(VALUES_KEY, {}))
    values[key] = value
    try:
        request.session[VALUES_KEY] = values
    except SessionDataError as exc:
        return json_error(413, str(exc))
    if body is not None:
        return Response(json_body={"stored": key}, status=200)
    return HTTPSeeOther(location=request.route_path("session_data"))


@view_config(route_name="cookies", renderer="json", permission=PUBLIC)
def cookies(request: Any) -> dict[str, str]:
    """The cookies sent, secrets redacted: a page that echoes the CSRF cookie
    would hand it to any script that can read this page, and the device cookie
    is a credential too (with it, a lock holds no longer)."""
    settings = request.registry.sessapp_settings
    hidden = {settings.session.cookie_name, settings.csrf_cookie_name,
              device_cookie_name(settings)}
    return {key: (REDACTED if key in hidden else value) for key, value in request.cookies.items()}


@view_config(route_name="theme", request_method="POST", permission=PUBLIC)
def theme(request: Any) -> Any:
    try:
        choice = field(request, "theme", max_length=20)
        target = safe_next(field(request, "next")) or request.route_path("home")
    except FieldError as exc:
        return json_error(422, str(exc))
    if choice not in THEMES:
        return json_error(422, "theme must be light or dark.")
    return _remembered(request, "theme", choice, target)


@view_config(route_name="language", request_method="POST", permission=PUBLIC)
def language(request: Any) -> Any:
    """Pages in the chosen language from now on (the ``language`` cookie beats
    ``Accept-Language``); back to the page the picker was on."""
    try:
        choice = field(request, "language", max_length=20)
        target = safe_next(field(request, "next")) or request.route_path("home")
    except FieldError as exc:
        return json_error(422, str(exc))
    if choice not in LANGUAGES:
        return json_error(422, f"language must be one of: {', '.join(LANGUAGES)}.")
    return _remembered(request, LANGUAGE_COOKIE, choice, target)


def _remembered(request: Any, name: str, value: str, target: str) -> HTTPSeeOther:
    """303 to ``target``, keeping a preference for a year in a cookie with the
    session cookie's flags (Secure, HttpOnly and SameSite as the environment sets them)."""
    cookie = request.registry.sessapp_settings.session.cookie
    response = HTTPSeeOther(location=target)
    response.set_cookie(
        name,
        value,
        max_age=365 * 24 * 3600,
        path="/",
        secure=cookie.secure,
        httponly=cookie.httponly,
        samesite=cookie.samesite,
    )
    return response


def _unavailable(status: str) -> Response:
    # json_body, not a text body: Response(body=str) without a charset raises
    # TypeError, which turned this 503 into a 500. Retry-After is set after: a
    # ``headers=`` argument would replace the Content-Type with it.
    response = Response(json_body={"status": status}, status=503)
    response.headers["Retry-After"] = "5"
    return response


@view_config(route_name="healthz", permission=PUBLIC)
def healthz(request: Any) -> Response:
    """200 when the database answers and its schema is the one this code needs;
    503 otherwise, so a load balancer keeps traffic off a process that would
    fail every sign-in (the body says which: run sessapp-initdb when "schema
    behind")."""
    expected = request.registry.get("schema_heads")
    try:
        if expected is None:
            request.dbsession.execute(text("SELECT 1"))
        elif schema.stored_revisions(request.dbsession.connection()) != expected:
            return _unavailable("schema behind")
    except SQLAlchemyError:
        return _unavailable("unavailable")
    return Response(json_body={"status": "ok"})
