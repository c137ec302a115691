"""The admin pages: users, their sessions, recent auth events, and the
confirmation step before anything that cannot be undone by a click. Every
action is a sudo action: without a recent proof it goes to ``/sudo`` and back
to ``/admin``; a ``current_password`` sent with it is judged instead."""

from __future__ import annotations

import re
from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from ..accounts import admin as admin_actions
from ..accounts import users as accounts
from ..accounts.errors import AccountError, Throttled
from ..i18n import _, ngettext, translate
from ..security.acl import ADMIN
from .helpers import FieldError, field, flash, see_other, throttled, whole_number

ADMIN_PAGE = "sessapp:templates/admin.jinja2"
MAX_PAGE = 10_000
_KIND = re.compile(r"[a-z_]{1,40}")


def _query(request: Any, name: str, max_length: int) -> str | None:
    """A query parameter as text, or None when absent, empty, too long or not
    text a database column could hold: a filter that cannot be read is ignored."""
    value = request.GET.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        return None
    return value


def event_filters(request: Any) -> dict[str, Any]:
    """``user``, ``kind`` and ``page`` from the query string; anything
    unreadable is left out rather than refused, so a hand-edited address
    still shows a page."""
    kind = _query(request, "kind", 40)
    page = whole_number(_query(request, "page", 9))
    return {
        "username": _query(request, "user", 150),
        "kind": kind if kind is not None and _KIND.fullmatch(kind) else None,
        "page": page if page is not None and 1 <= page <= MAX_PAGE else 1,
    }


@view_config(route_name="admin", request_method="GET", renderer=ADMIN_PAGE, permission=ADMIN)
def admin(request: Any) -> dict[str, Any]:
    filters = event_filters(request)
    return {**admin_actions.overview(request, **filters), "filters": filters,
            "me": request.identity}


def _current_password(request: Any) -> str:
    try:
        return field(request, "current_password", max_length=4096)
    except FieldError:
        return ""


def _refused(request: Any, exc: AccountError) -> Any:
    """A wrong current password: the admin page again, 422 (429 when
    throttled), nothing changed. Any other refusal: a notice on the page."""
    flash(request, exc.message, "error")
    if exc.field != "current_password":
        return see_other(request, "admin")
    if isinstance(exc, Throttled):
        throttled(request, exc)
    else:
        request.response.status = 422
    return admin(request)


def _disable(request: Any, me: Any, user: Any, password: str) -> Any:
    admin_actions.disable_user(request, me, user, password)
    return _("${name} is disabled; their sessions and tokens have ended.",
             mapping={"name": user.username})


def _enable(request: Any, me: Any, user: Any, password: str) -> Any:
    admin_actions.enable_user(request, me, user, password)
    return _("${name} is enabled.", mapping={"name": user.username})


def _revoke_sessions(request: Any, me: Any, user: Any, password: str) -> Any:
    ended, revoked = admin_actions.end_user_sessions(request, me, user, password)
    sessions = translate(request, ngettext("${n} session", "${n} sessions", ended))
    tokens = translate(request, ngettext("${n} API token", "${n} API tokens", revoked))
    return _("Ended ${sessions} and ${tokens} of ${name}.",
             mapping={"sessions": sessions, "tokens": tokens, "name": user.username})


def _reset_mfa(request: Any, me: Any, user: Any, password: str) -> Any:
    admin_actions.reset_second_factors(request, me, user, password)
    return _("Every second factor of ${name} has been removed.",
             mapping={"name": user.username})


ACTIONS = {"disable": _disable, "enable": _enable, "revoke-sessions": _revoke_sessions,
           "reset-mfa": _reset_mfa}

# What the confirmation page asks before each action that ends something.
CONFIRMATIONS = {
    "disable": (_("Disable ${name}?"),
                _("${name} will be signed out everywhere at once, every API token of theirs "
                  "revoked, and they cannot sign in until an admin enables the account."),
                _("Disable ${name}")),
    "revoke-sessions": (_("End ${name}'s sessions?"),
                        _("Every browser signed in as ${name} is signed out and every API token "
                          "of theirs revoked. They can sign in again."),
                        _("End ${name}'s sessions")),
    "reset-mfa": (_("Remove ${name}'s second factors?"),
                  _("${name}'s authenticator app, recovery codes and passkeys stop working; "
                    "they are told by mail and sign in with the password alone until they "
                    "set up a new factor."),
                  _("Remove ${name}'s second factors")),
}


def _target(request: Any) -> Any:
    user = accounts.get_user(request.dbsession, request.matchdict["user_id"])
    if user is None or request.matchdict["action"] not in ACTIONS:
        raise HTTPNotFound()
    return user


@view_config(route_name="admin_user_confirm", request_method="GET",
             renderer="sessapp:templates/admin_confirm.jinja2", permission=ADMIN)
def confirm_user_action(request: Any) -> dict[str, Any]:
    """The page a destructive action's button leads to: it says what will
    happen and holds the form that POSTs it, so the check works without
    script. A GET never acts; the POST route still acts at once, for scripts."""
    user = _target(request)
    action = request.matchdict["action"]
    title, consequence, button = CONFIRMATIONS.get(action, (None, None, None))
    if title is None:
        raise HTTPNotFound()
    mapping = {"name": user.username}
    return {"title": title, "consequence": consequence, "button": button, "mapping": mapping,
            "action_path": request.route_path("admin_user_action", user_id=user.id,
                                              action=action)}


@view_config(route_name="admin_user_action", request_method="POST", renderer=ADMIN_PAGE,
             permission=ADMIN, sudo="admin")
def user_action(request: Any) -> Any:
    user = _target(request)
    action = ACTIONS[request.matchdict["action"]]
    try:
        flash(request, action(request, request.identity, user, _current_password(request)))
    except AccountError as exc:
        return _refused(request, exc)
    return see_other(request, "admin")


@view_config(route_name="admin_revoke_everyone_confirm", request_method="GET",
             renderer="sessapp:templates/admin_confirm.jinja2", permission=ADMIN)
def confirm_revoke_everyone(request: Any) -> dict[str, Any]:
    return {"title": _("End everyone's sessions?"),
            "consequence": _("Every signed-in browser of every user is signed out, except "
                             "this one. API tokens keep working."),
            "button": _("End everyone's sessions"), "mapping": {},
            "action_path": request.route_path("admin_revoke_everyone")}


@view_config(route_name="admin_revoke_everyone", request_method="POST", renderer=ADMIN_PAGE,
             permission=ADMIN, sudo="admin")
def revoke_everyone(request: Any) -> Any:
    try:
        ended = admin_actions.end_everyones_sessions(request, request.identity,
                                                     _current_password(request))
    except AccountError as exc:
        return _refused(request, exc)
    flash(request, ngettext("Ended ${n} session.", "Ended ${n} sessions.", ended))
    return see_other(request, "admin")
