"""The second-factor pages: ``/mfa`` (what the user has), TOTP enrolment and
removal, new recovery codes. Each change is a sudo action (``sudo=True``).

Recovery codes are shown on the response that made them, never after a
redirect: keeping them for a later request would mean storing them in clear.
"""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from ..accounts import factors
from ..accounts.errors import AccountError, Throttled
from ..i18n import _
from ..security.acl import ENROL
from .helpers import FieldError, field, flash, see_other, throttled


def _page(request: Any, **extra: Any) -> dict[str, Any]:
    return {**factors.overview(request, request.identity), "user": request.identity,
            "errors": {}, **extra}


def _refused(request: Any, exc: AccountError) -> Any:
    """A refusal about a field (a wrong current password or code): the page
    again with the error, 422 (429 when throttled); any other: back to /mfa."""
    if exc.field is None:
        flash(request, exc.message, "error")
        return see_other(request, "mfa")
    if isinstance(exc, Throttled):
        throttled(request, exc)
    else:
        request.response.status = 422
    request.override_renderer = "sessapp:templates/mfa.jinja2"
    return _page(request, errors={exc.field: exc.message})


def _current_password(request: Any) -> str:
    try:
        return field(request, "current_password", max_length=4096)
    except FieldError:
        return ""


@view_config(route_name="mfa", request_method="GET", renderer="sessapp:templates/mfa.jinja2",
             permission=ENROL)
def mfa(request: Any) -> dict[str, Any]:
    return _page(request)


def _enrolment_page(request: Any, errors: dict[str, str] | None = None) -> Any:
    try:
        setup = factors.enrolment(request, request.identity)
    except AccountError as exc:
        flash(request, exc.message)
        return see_other(request, "mfa")
    return {"setup": setup, "errors": errors or {},
            "must_enrol": factors.must_enrol(request.registry.sessapp_settings,
                                             request.identity)}


@view_config(route_name="mfa_totp", request_method="GET",
             renderer="sessapp:templates/mfa_totp.jinja2", permission=ENROL, sudo=True)
def totp_form(request: Any) -> Any:
    request.response.headers["Cache-Control"] = "no-store"
    return _enrolment_page(request)


@view_config(route_name="mfa_totp", request_method="POST",
             renderer="sessapp:templates/mfa_totp.jinja2", permission=ENROL, sudo=True)
def totp_enable(request: Any) -> Any:
    try:
        code = field(request, "code", max_length=100)
    except FieldError:
        code = ""
    try:
        codes = factors.enable_totp(request, request.identity, code, _current_password(request))
    except AccountError as exc:
        if exc.field == "code":
            request.response.status = 422
            return _enrolment_page(request, {"code": exc.message})
        return _refused(request, exc)
    request.override_renderer = "sessapp:templates/recovery_codes.jinja2"
    request.response.headers["Cache-Control"] = "no-store"
    return {"codes": codes, "enabled": True}


@view_config(route_name="mfa_totp_disable", request_method="POST",
             renderer="sessapp:templates/mfa.jinja2", permission=ENROL, sudo="mfa")
def totp_disable(request: Any) -> Any:
    try:
        factors.disable_totp(request, request.identity, _current_password(request))
    except AccountError as exc:
        return _refused(request, exc)
    flash(request, _("Two-step verification with an authenticator app is off."))
    return see_other(request, "mfa")


@view_config(route_name="mfa_recovery_codes", request_method="POST",
             renderer="sessapp:templates/recovery_codes.jinja2", permission=ENROL, sudo="mfa")
def recovery_codes(request: Any) -> Any:
    try:
        codes = factors.regenerate_recovery_codes(request, request.identity,
                                                  _current_password(request))
    except AccountError as exc:
        return _refused(request, exc)
    request.response.headers["Cache-Control"] = "no-store"
    return {"codes": codes, "enabled": False}
