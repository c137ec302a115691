"""Sudo mode as a view option: ``@view_config(..., sudo=True)``.

A sensitive action (password, e-mail, second factors, API tokens, ending other
sessions, every admin action) needs a proof of identity no older than
``auth.sudo_timeout``. The time of the last proof is a column of the session
row (``sessions.authenticated_at``), read in the session's one query, so this
check costs no statement. Sign-in sets it, and so do ``POST /sudo`` and any
``current_password`` judged right (:func:`sessapp.accounts.signin.confirm_identity`).

How to guard a view (the passkey and e-mail views do the same)::

    @view_config(route_name="mfa_totp", request_method="POST", permission=ACCOUNT,
                 sudo=True)            # come back to this page after /sudo
    @view_config(route_name="admin_user_action", request_method="POST",
                 permission=ADMIN, sudo="admin")   # come back to the route "admin"

The deriver runs after the permission and CSRF checks. When the proof is stale
it answers before the view runs, so nothing changes:

- a page or form: 303 to ``/sudo?next=<page>`` (``<page>`` is the request's
  own path for a GET, else the route ``sudo`` names, else the request's path);
- a JSON request: 403 ``{"error": ..., "sudo": "/sudo"}``.

A POST, PUT, PATCH or DELETE that carries a non-empty ``current_password``
goes through to the view whatever the sudo state: its use case must judge the
password with :func:`~sessapp.accounts.signin.confirm_identity` (right: the
proof; wrong: 422, counted by the throttle). Use cases call ``confirm_identity``
too, so a view that forgot ``sudo=`` still changes nothing without a proof;
the deriver is what turns that refusal into the round trip through ``/sudo``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response

from ..accounts.signin import PROOF_REQUIRED, in_sudo_mode
from .redirects import safe_next

if TYPE_CHECKING:
    from pyramid.request import Request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROOF_FIELD = "current_password"
SUDO_ROUTE = "sudo"


def carries_current_password(request: Request) -> bool:
    """Whether a state-changing request sends a non-empty ``current_password``
    (form field or JSON member): then its use case judges that instead."""
    if request.method not in UNSAFE_METHODS:
        return False
    if request.content_type == "application/json":
        try:
            body = request.json_body
        except ValueError:
            return False
        value = body.get(PROOF_FIELD) if isinstance(body, dict) else None
    else:
        value = request.POST.get(PROOF_FIELD)
    return isinstance(value, str) and value != ""


def _wants_json(request: Request) -> bool:
    if request.path_info.startswith("/api/") or request.content_type == "application/json":
        return True
    offer = request.accept.acceptable_offers(["text/html", "application/json"])
    return bool(offer) and offer[0][0] == "application/json"


def come_back_to(request: Request, target: Any) -> str | None:
    """The page ``/sudo`` sends the browser back to."""
    if request.method == "GET":
        return safe_next(request.path_qs)
    if isinstance(target, str):
        return request.route_path(target)
    return safe_next(request.path)


def sudo_required(request: Request, target: Any = True) -> Response:
    """The answer to a sensitive request without a recent proof."""
    if _wants_json(request):
        return Response(json_body={"error": PROOF_REQUIRED,
                                   "sudo": request.route_path(SUDO_ROUTE)}, status=403)
    location = request.route_path(SUDO_ROUTE)
    back = come_back_to(request, target)
    if back:
        location += "?" + urlencode({"next": back})
    return HTTPSeeOther(location=location)


def sudo_view(view: Callable, info: Any) -> Callable:
    """The view deriver for the ``sudo`` option: see the module docstring."""
    target = info.options.get("sudo")
    if not target or info.exception_only:
        return view

    def guarded(context: Any, request: Request) -> Any:
        if carries_current_password(request) or in_sudo_mode(request):
            return view(context, request)
        return sudo_required(request, target)

    return guarded


sudo_view.options = ("sudo",)  # type: ignore[attr-defined]


def includeme(config: Any) -> None:
    config.add_view_deriver(sudo_view, under="csrf_view", over="owrapped_view")
