"""Error pages. The catch-all runs possibly after the transaction ended, so it
touches neither the database nor the session."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken, URLDecodeError
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from pyramid_retry import IRetryableError, mark_error_retryable
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ..accounts import audit
from ..accounts.factor_policy import must_enrol
from ..accounts.scopes import SCOPES
from ..i18n import _
from ..models.conflicts import is_conflict
from ..security.acl import ISSUE_TOKEN
from ..security.csrf import has_bearer_credentials
from ..security.policies import ENROL_FIRST
from .helpers import json_error, wants_json

log = logging.getLogger(__name__)

def is_transient(exc: BaseException) -> bool:
    """Would running the request again on fresh state succeed?

    Errors already marked retryable (a session's lost version race, a
    transaction ConflictError) are transient by definition: when the retries run
    out under contention they are a busy service (503, Retry-After), not a bug
    to log with a traceback on every attempt.
    """
    if IRetryableError.providedBy(exc) or isinstance(exc, StaleDataError):
        return True
    return is_conflict(exc)


@forbidden_view_config()
def forbidden(request: Any) -> Any:
    identity = request.identity
    signed_in = identity is not None
    bearer = has_bearer_credentials(request)
    if bearer and not signed_in:
        # Anyone can send made-up tokens at will: a row each only within the
        # client's allowance, the log line always.
        audit.record_refusal(request, "forbidden")
    else:
        # Anyone can ask for a page anonymously: log it, keep no row.
        audit.record(request, "forbidden", user=identity, store=signed_in)
    enrol_first = signed_in and must_enrol(request.registry.sessapp_settings, identity)
    if wants_json(request):
        if enrol_first:
            return json_error(403, ENROL_FIRST)
        if signed_in:
            return json_error(403, _refusal(request, bearer))
        challenge = 'Bearer error="invalid_token"' if bearer else "Bearer"
        return json_error(401, "Authentication required.", **{"WWW-Authenticate": challenge})
    if not signed_in:
        query = urlencode({"next": request.path_qs})
        return HTTPSeeOther(location=f"{request.route_path('login')}?{query}")
    if enrol_first:
        return HTTPSeeOther(location=request.route_path("mfa_totp"))
    return _page(request, 403, _("Forbidden"), _("You do not have permission to see this page."))


def _refusal(request: Any, bearer: bool) -> str:
    """What a signed-in JSON client is told: for a token, why its scopes fall short."""
    if not bearer:
        return "You do not have permission for this."
    permission = getattr(getattr(request.exception, "result", None), "permission", None)
    if permission == ISSUE_TOKEN:
        return ("An API token cannot make tokens: sign in with a browser and give your"
                " current password.")
    if permission in SCOPES:
        return f"This API token's scopes do not allow this: it needs the {permission} scope."
    return "API tokens cannot use this; it is for a signed-in browser."


def _page(request: Any, status: int, title: str, message: str, *, nav: bool = True) -> Any:
    """An error page in the reader's language (JSON errors stay English: scripts
    read them); ``nav=False`` when the transaction may be over, so the layout
    must not look up who is signed in."""
    response = render_to_response(
        "error.jinja2",
        {"title": title, "message": message, "status": status, "nav": nav},
        request=request,
    )
    response.status = status
    return response


@notfound_view_config()
def not_found(request: Any) -> Any:
    if wants_json(request):
        return json_error(404, "Not found.")
    return _page(request, 404, _("Not found"), _("There is no page at this address."))


@exception_view_config(BadCSRFToken)
@exception_view_config(BadCSRFOrigin)
def bad_csrf(exc: Exception, request: Any) -> Any:
    # Anyone can send forged forms at will: keep a row only for a signed-in
    # session, where a failure may mean an attack on that user. Log them all.
    signed_in = request.session.user_id is not None
    audit.record(request, "csrf_failure", user=request.session.identity if signed_in else None,
                 store=signed_in)
    if wants_json(request):
        return json_error(400, "Missing or invalid CSRF token.")
    return _page(request, 400, _("Bad request"), _(
        "The form was stale or tampered with. Go back, reload the page and try again."))


@exception_view_config(URLDecodeError)
def bad_url(exc: Exception, request: Any) -> Any:
    return _page(request, 400, _("Bad request"), _("That address could not be read."))


@exception_view_config(Exception)
def server_error(exc: Exception, request: Any) -> Any:
    if is_transient(exc):
        # Tag it so pyramid_retry reruns the request on fresh state; the page
        # below is only seen if the retries run out.
        mark_error_retryable(exc)
        log.warning("transient database error (%s): %s", type(exc).__name__, exc)
        if wants_json(request):
            response = json_error(503, "The service is briefly unavailable. Try again.")
        else:
            response = _page(request, 503, _("Unavailable"),
                             _("The service is briefly unavailable. Please try again."), nav=False)
        response.headers["Retry-After"] = "2"
        return response
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", exc)
        response = _page(request, 503, _("Unavailable"), _("The database is unavailable."),
                         nav=False)
        response.headers["Retry-After"] = "5"
        return response
    log.exception("unhandled error", exc_info=exc)
    if wants_json(request):
        return json_error(500, "Internal error.")
    return _page(request, 500, _("Server error"), _("Something went wrong on our side."),
                 nav=False)
