"""What several views need: reading fields, JSON errors, the signed-in user."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response

from ..clock import get_clock
from ..i18n import ReadableError, _, translate

MAX_PASSWORD_LENGTH = 4096


class FieldError(ReadableError):
    """A field that cannot be read: its message names the field."""


def json_body(request: Any) -> dict[str, Any] | None:
    """The JSON object sent, None when the body is not JSON; FieldError if it is
    JSON but not an object."""
    if request.content_type != "application/json":
        return None
    if not request.body:
        return {}
    body = request.json_body  # already parsed once by the body guard
    if not isinstance(body, dict):
        raise FieldError(_("The JSON body must be an object."))
    return body


def field(request: Any, name: str, *, max_length: int = 1024) -> str:
    """A text field from the form or the JSON body, '' when absent."""
    body = json_body(request)
    value = request.POST.get(name, "") if body is None else body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FieldError(_("${name} must be text.", mapping={"name": name}))
    if len(value) > max_length:
        raise FieldError(_("${name} is too long.", mapping={"name": name}))
    return value


def whole_number(value: Any) -> int | None:
    """An int, or a string of ASCII digits, as an int; None for anything else.

    ``str.isdigit`` and ``int()`` accept other scripts' digits (``٣``) and
    superscripts (``²``, which ``int()`` then refuses): a number a client sends
    is written in ASCII or it is not a number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 9:
            return int(text)
    return None


def token_request(request: Any) -> dict[str, Any]:
    """name, expires_in_days, scopes and current_password from a JSON body or a
    form (several ``scopes`` fields); FieldError for a body that cannot be one."""
    body = json_body(request)
    if body is None:
        body = {key: request.POST.get(key) for key in
                ("name", "expires_in_days", "current_password") if key in request.POST}
        if "scopes" in request.POST:
            body["scopes"] = request.POST.getall("scopes")
    days = body.get("expires_in_days", 30)
    if isinstance(days, str):
        # A form sends text; only ASCII digits make it a number.
        days = whole_number(days)
    password = body.get("current_password") or ""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        raise FieldError(_("current_password must be text of at most ${n} characters.",
                           mapping={"n": MAX_PASSWORD_LENGTH}))
    return {"name": body.get("name"), "days": days, "scopes": body.get("scopes"),
            "current_password": password}


def wants_json(request: Any) -> bool:
    if request.path_info.startswith("/api/"):
        return True
    if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
        return True
    offer = request.accept.acceptable_offers(["text/html", "application/json"])
    return bool(offer) and offer[0][0] == "application/json"


def json_error(status: int, message: str, **headers: str) -> Response:
    response = Response(json_body={"error": message}, status=status)
    response.headers.update(headers)
    return response


def throttled(request: Any, refusal: Any) -> None:
    """Answer 429 with ``Retry-After`` for a :class:`~sessapp.accounts.errors.Throttled`."""
    request.response.status = 429
    request.response.headers["Retry-After"] = str(refusal.retry_after)


def now(request: Any) -> Any:
    return get_clock(request.registry).now()


def see_other(request: Any, route_name: str, **kw: Any) -> HTTPSeeOther:
    return HTTPSeeOther(location=request.route_path(route_name, **kw))


def flash(request: Any, message: Any, queue: str = "") -> None:
    """Flash ``message`` in the request's language: the session keeps text, not
    a translation string with its mapping, so it is translated now."""
    request.session.flash(translate(request, message), queue)
