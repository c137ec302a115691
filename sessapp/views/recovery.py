"""Links from mail and the forms around them: password reset, address
verification and change, ending a session from a sign-in notice.

A GET on a link only shows a page with a button (mail scanners follow links);
the POST does the work. A link that is dead, used, expired or malformed gets
one 400 page offering a new one. Link pages send ``Referrer-Policy:
no-referrer``, so the token in their URL leaks to no other site.
"""

from __future__ import annotations

from typing import Any

from pyramid.renderers import render_to_response
from pyramid.view import view_config

from ..accounts import email_addresses, notice_links, recovery
from ..accounts.errors import AccountError, Throttled, form_errors
from ..i18n import _
from ..security.acl import ACCOUNT, PUBLIC
from .helpers import FieldError, field, flash, see_other, throttled

LINK_PAGE = "sessapp:templates/link_confirm.jinja2"
RESET_PAGE = "sessapp:templates/password_reset.jinja2"
EMAIL_MAX = 320


def _no_referrer(request: Any) -> None:
    request.response.headers["Referrer-Policy"] = "no-referrer"


def _dead_link(request: Any, offer: str | None, offer_label: Any) -> Any:
    response = render_to_response(
        "sessapp:templates/link_dead.jinja2",
        {"offer": offer, "offer_label": offer_label}, request=request)
    response.status = 400
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _dead_reset(request: Any) -> Any:
    return _dead_link(request, request.route_path("password_forgot"),
                      _("Ask for a new reset link"))


def _dead_verify(request: Any) -> Any:
    return _dead_link(request, request.route_path("email"),
                      _("Send a new link from your e-mail settings"))


def _dead_other(request: Any) -> Any:
    return _dead_link(request, request.route_path("password_forgot"),
                      _("Reset your password"))


# -- password reset ---------------------------------------------------------


@view_config(route_name="password_forgot", request_method="GET",
             renderer="sessapp:templates/password_forgot.jinja2", permission=PUBLIC)
def forgot_form(request: Any) -> dict[str, Any]:
    return {"email": "", "errors": {}, "sent": False}


@view_config(route_name="password_forgot", request_method="POST",
             renderer="sessapp:templates/password_forgot.jinja2", permission=PUBLIC)
def forgot(request: Any) -> dict[str, Any]:
    try:
        address = field(request, "email", max_length=EMAIL_MAX)
        recovery.request_reset(request, address)
    except FieldError:
        request.response.status = 422
        return {"email": "", "errors": {"email": email_addresses.INVALID}, "sent": False}
    except Throttled as exc:
        throttled(request, exc)
        return {"email": address, "errors": {"email": exc.message}, "sent": False}
    except AccountError as exc:
        request.response.status = 422
        return {"email": address, "errors": {"email": exc.message}, "sent": False}
    return {"email": "", "errors": {}, "sent": True}


@view_config(route_name="password_reset", request_method="GET", renderer=RESET_PAGE,
             permission=PUBLIC)
def reset_form(request: Any) -> Any:
    if recovery.reset_link(request, request.matchdict["token"]) is None:
        return _dead_reset(request)
    _no_referrer(request)
    return {"errors": {}}


@view_config(route_name="password_reset", request_method="POST", renderer=RESET_PAGE,
             permission=PUBLIC)
def reset(request: Any) -> Any:
    _no_referrer(request)
    try:
        new_password = field(request, "new_password", max_length=4096)
        user = recovery.reset_password(request, request.matchdict["token"], new_password)
    except FieldError as exc:
        request.response.status = 422
        return {"errors": {"new_password": exc.message}}
    except AccountError as exc:
        request.response.status = 422
        return {"errors": {"new_password": exc.message}}
    if user is None:
        return _dead_reset(request)
    return see_other(request, "login")


# -- e-mail address -----------------------------------------------------------


def _email_page(request: Any, errors: dict[str, Any] | None = None,
                email: str = "") -> dict[str, Any]:
    return {"user": request.identity, "email": email, "errors": errors or {}}


@view_config(route_name="email", request_method="GET",
             renderer="sessapp:templates/email.jinja2", permission=ACCOUNT, sudo=True)
def email_form(request: Any) -> dict[str, Any]:
    return _email_page(request)


@view_config(route_name="email", request_method="POST",
             renderer="sessapp:templates/email.jinja2", permission=ACCOUNT, sudo=True)
def change_email(request: Any) -> Any:
    try:
        address = field(request, "email", max_length=EMAIL_MAX)
        password = field(request, "current_password", max_length=4096)
    except FieldError:
        request.response.status = 422
        return _email_page(request, {"email": email_addresses.INVALID})
    try:
        new = email_addresses.request_change(request, request.identity, password, address)
    except Throttled as exc:
        throttled(request, exc)
        return _email_page(request, form_errors(exc), address)
    except AccountError as exc:
        request.response.status = 422
        return _email_page(request, form_errors(exc), address)
    flash(request, _("We sent a link to ${address}. Your address changes when you follow it.",
                     mapping={"address": new}))
    return see_other(request, "email")


def _link_page(request: Any, title: Any, message: Any, button: Any) -> dict[str, Any]:
    _no_referrer(request)
    return {"title": title, "message": message, "button": button, "done": None}


def _done_page(request: Any, title: Any, message: Any, *,
               offer_reset: bool = False) -> dict[str, Any]:
    """What a link page says once its action ran; ``offer_reset`` links the
    password reset, for a link that suggests someone else knows the password."""
    page = {"title": title, "message": message, "button": None, "done": True}
    if offer_reset:
        page["reset"] = request.route_path("password_forgot")
    return page


@view_config(route_name="email_verify", request_method="GET", renderer=LINK_PAGE,
             permission=PUBLIC)
def verify_page(request: Any) -> Any:
    found = email_addresses.verify_link(request, request.matchdict["token"])
    if found is None:
        return _dead_verify(request)
    link = found[0]
    return _link_page(request, _("Confirm your e-mail address"),
                      _("Confirm that ${address} is your account's address.",
                        mapping={"address": link.email}),
                      _("Confirm this address"))


@view_config(route_name="email_verify", request_method="POST", renderer=LINK_PAGE,
             permission=PUBLIC)
def verify(request: Any) -> Any:
    _no_referrer(request)
    try:
        user = email_addresses.confirm(request, request.matchdict["token"])
    except AccountError as exc:
        request.response.status = 409
        return _done_page(request, _("This address cannot be used"), exc.message)
    if user is None:
        return _dead_verify(request)
    if request.identity is not None:
        flash(request, _("Your e-mail address is confirmed."))
    return see_other(request, "profile")


@view_config(route_name="email_undo", request_method="GET", renderer=LINK_PAGE,
             permission=PUBLIC)
def undo_page(request: Any) -> Any:
    found = email_addresses.undo_link(request, request.matchdict["token"])
    if found is None:
        return _dead_other(request)
    return _link_page(request, _("Keep your e-mail address"),
                      _("Keep ${address} as your account's address, cancel the change and "
                        "sign out every session and API token.",
                        mapping={"address": found[0].email}),
                      _("Keep my address and sign everyone out"))


@view_config(route_name="email_undo", request_method="POST", renderer=LINK_PAGE,
             permission=PUBLIC)
def undo(request: Any) -> Any:
    _no_referrer(request)
    if email_addresses.undo_change(request, request.matchdict["token"]) is None:
        return _dead_other(request)
    return _done_page(request, _("Your address is kept"),
                      _("Every session and API token of your account has ended. If you did "
                        "not ask for the change, reset your password now."), offer_reset=True)


# -- ending a session from a sign-in notice -------------------------------------


@view_config(route_name="session_end", request_method="GET", renderer=LINK_PAGE,
             permission=PUBLIC)
def session_end_page(request: Any) -> Any:
    if notice_links.end_session_link(request, request.matchdict["token"]) is None:
        return _dead_other(request)
    return _link_page(request, _("End that session"),
                      _("End the session that was started in the sign-in we told you about. "
                        "Nobody is signed in by this."),
                      _("End that session"))


@view_config(route_name="session_end", request_method="POST", renderer=LINK_PAGE,
             permission=PUBLIC)
def session_end(request: Any) -> Any:
    _no_referrer(request)
    if notice_links.end_session(request, request.matchdict["token"]) is None:
        return _dead_other(request)
    return _done_page(request, _("That session has ended"),
                      _("If you did not sign in yourself, reset your password now: whoever "
                        "did knows it."), offer_reset=True)
