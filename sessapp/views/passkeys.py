"""Passkey routes: JSON in, JSON out, for the small script in
``static/passkeys.js`` (and any client speaking WebAuthn Level 3's JSON).

Every refusal is JSON with an ``error`` in English, as every JSON error is
(scripts match it), and a ``message``: the same in the reader's language, for
the page's script to show. 400 for an answer that does not
verify (or a challenge that is gone), 422 for a bad name, 404 for someone
else's passkey, 429 (``Retry-After``) when throttled; a half-done sign-in that
expired is 400 with ``"location": "/login"``. Refusals are *returned*, not raised, so the request's
transaction commits and the challenge it used up stays used up.
"""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from ..accounts import passkey_signin, passkeys
from ..accounts.errors import AccountError, NotFound, Throttled
from ..accounts.second_factor import SecondFactorExpired
from ..accounts.webauthn_ceremony import CeremonyFailed
from ..i18n import _, translate
from ..models.meta import parse_id
from ..security.acl import ENROL, PUBLIC
from ..security.redirects import safe_next
from .helpers import FieldError, flash, json_body, json_error, see_other, wants_json

NOT_JSON = "Send a JSON object (Content-Type: application/json)."


def _refused(request: Any, status: int, exc: Any, headers: dict[str, str] | None = None,
             **more: str) -> Response:
    """A refusal: ``error`` in English, ``message`` for the reader of the page."""
    response = Response(json_body={"error": str(exc), "message": translate(request, exc.message),
                                   **more}, status=status)
    response.headers.update(headers or {})
    return response


def _body(request: Any) -> dict[str, Any] | None:
    """The JSON object sent, None for anything else."""
    try:
        return json_body(request)
    except FieldError:
        return None


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def passkey_json(passkey: Any) -> dict[str, Any]:
    return {"id": passkey.id, "name": passkey.name, "created_at": _iso(passkey.created_at),
            "last_used_at": _iso(passkey.last_used_at)}


@view_config(route_name="mfa_passkey_options", request_method="POST", renderer="json",
             permission=ENROL, sudo=True)
def registration_options(request: Any) -> Any:
    return passkeys.registration_options(request, request.identity)


@view_config(route_name="mfa_passkeys", request_method="POST", permission=ENROL, sudo=True)
def add_passkey(request: Any) -> Response:
    body = _body(request)
    if body is None:
        return json_error(400, NOT_JSON)
    try:
        passkey = passkeys.add(request, request.identity, body.get("name"),
                               body.get("credential"))
    except CeremonyFailed as exc:
        return _refused(request, 400, exc)
    except AccountError as exc:
        return _refused(request, 422, exc)
    return Response(json_body=passkey_json(passkey), status=201)


@view_config(route_name="mfa_passkey_delete", request_method="POST", permission=ENROL,
             sudo="mfa")
def delete_passkey(request: Any) -> Response:
    """A form's button (303 back to /mfa) or a script (204)."""
    passkey_id = parse_id(request.matchdict["passkey_id"])
    try:
        if passkey_id is None:
            raise NotFound(passkeys.NOT_YOURS)
        passkeys.remove(request, request.identity, passkey_id)
    except NotFound as exc:
        return _refused(request, 404, exc) if wants_json(request) else HTTPNotFound()
    if wants_json(request):
        return Response(status=204)
    flash(request, _("The passkey has been removed."))
    return see_other(request, "mfa")


@view_config(route_name="login_passkey_options", request_method="POST", renderer="json",
             permission=PUBLIC)
def sign_in_options(request: Any) -> Any:
    return passkeys.sign_in_options(request)


@view_config(route_name="login_passkey", request_method="POST", permission=PUBLIC)
def sign_in(request: Any) -> Response:
    body = _body(request)
    if body is None:
        return json_error(400, NOT_JSON)
    try:
        user = passkey_signin.sign_in_with_passkey(request, body)
    except CeremonyFailed as exc:
        return _refused(request, 400, exc)
    target = safe_next(request.GET.get("next")) or request.route_path("profile")
    return Response(json_body={"username": user.username, "location": target})


def _throttled(request: Any, exc: Throttled) -> Response:
    return _refused(request, 429, exc, {"Retry-After": str(exc.retry_after)})


def _expired(request: Any, exc: SecondFactorExpired) -> Response:
    return _refused(request, 400, exc, location=request.route_path("login"))


@view_config(route_name="login_mfa_passkey_options", request_method="POST", renderer="json",
             permission=PUBLIC)
def second_factor_options(request: Any) -> Any:
    try:
        return passkey_signin.second_factor_options(request)
    except SecondFactorExpired as exc:
        return _expired(request, exc)
    except NotFound as exc:
        return _refused(request, 404, exc)


@view_config(route_name="login_mfa_passkey", request_method="POST", permission=PUBLIC)
def second_factor(request: Any) -> Response:
    """The second step of signing in, with a passkey instead of a code."""
    body = _body(request)
    if body is None:
        return json_error(400, NOT_JSON)
    try:
        target = passkey_signin.complete_sign_in_with_passkey(request, body)
    except SecondFactorExpired as exc:
        return _expired(request, exc)
    except Throttled as exc:
        return _throttled(request, exc)
    except CeremonyFailed as exc:
        return _refused(request, 400, exc)
    return Response(json_body={"location": target or request.route_path("profile")})


@view_config(route_name="sudo_passkey_options", request_method="POST", renderer="json",
             permission=ENROL)
def sudo_options(request: Any) -> Any:
    try:
        return passkey_signin.sudo_options(request, request.identity)
    except NotFound as exc:
        return _refused(request, 404, exc)


@view_config(route_name="sudo_passkey", request_method="POST", permission=ENROL)
def sudo(request: Any) -> Response:
    """``/sudo`` with a passkey; ``?next=`` as on the form."""
    body = _body(request)
    if body is None:
        return json_error(400, NOT_JSON)
    try:
        passkey_signin.renew_sudo_with_passkey(request, request.identity, body)
    except Throttled as exc:
        return _throttled(request, exc)
    except AccountError as exc:
        return _refused(request, 400, exc)
    target = safe_next(request.GET.get("next")) or request.route_path("profile")
    return Response(json_body={"location": target})
