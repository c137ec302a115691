"""A request that carries ``Authorization: Bearer`` is judged by that token alone.

Such a request skips CSRF (it carries no ambient credential), so it must never
use one either, on any route:

* its ``request.session`` is an empty session that is never stored and sets no
  cookie: the factory the app registered is wrapped, so no session row is read
  or written for it, whatever the view does;
* a state-changing view (POST, PUT, PATCH, DELETE) runs for it only when the view
  says it takes bearer tokens (``accepts_bearer=True``: the JSON API). Any other
  (sign-in, sign-out, registration, forms, preferences) refuses it with a 400
  before the view runs, so a junk token cannot turn a cookie form into a
  CSRF-free one. The permission check runs first, so a page for signed-in users
  still answers a bad token with 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from pyramid.interfaces import ISession, ISessionFactory
from pyramid.response import Response
from zope.interface import implementer

from ..accounts import audit
from ..clock import get_clock
from .csrf import has_bearer_credentials

if TYPE_CHECKING:
    from pyramid.request import Request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# After set_session_factory's action (order 0), so whatever factory the app or
# sessapp.sessions registered is the one wrapped.
WRAP_ORDER = 10
REFUSAL = ("This address takes the browser's session, not a bearer token; "
           "send the request without the Authorization header.")


@implementer(ISession)
class BearerRequestSession(dict):
    """The session of a bearer request: empty, in memory, never stored, no cookie.

    It answers what sessapp's code asks of a session (nobody is signed in to
    it, it has no public id) so that a page rendered for a bearer client works
    as for a visitor who stored nothing."""

    new = True
    public_id = None
    user_id = None
    identity = None
    is_stored = False
    # A token is never a fresh proof of identity: sudo mode is for browsers.
    authenticated_at = None

    def __init__(self, now: Any) -> None:
        super().__init__()
        self.created_at = now
        self.last_seen_at = now

    @property
    def created(self) -> float:
        return self.created_at.replace(tzinfo=UTC).timestamp()

    def invalidate(self) -> None:
        self.clear()

    def changed(self) -> None:
        pass

    def mark_authenticated(self) -> None:
        pass

    def authenticated_within(self, seconds: float) -> bool:
        return False

    def rotate(self, *, user_id: Any = None, identity: Any = None,
               keep: Iterable[str] | None = None) -> None:
        """Nothing to rotate, and nobody to sign in: a bearer request has no
        cookie session (the guard refuses the views that would ask)."""
        self.clear()

    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        storage = self.setdefault("_f_" + queue, [])
        if allow_duplicate or msg not in storage:
            storage.append(msg)

    def pop_flash(self, queue: str = "") -> list[Any]:
        return self.pop("_f_" + queue, [])

    def peek_flash(self, queue: str = "") -> list[Any]:
        return list(self.get("_f_" + queue, []))


@implementer(ISessionFactory)
class BearerAwareSessionFactory:
    """Hands a bearer request a :class:`BearerRequestSession`; every other
    request goes to the wrapped factory, untouched."""

    def __init__(self, inner: Callable[[Request], Any]) -> None:
        self.inner = inner

    def __call__(self, request: Request) -> Any:
        if has_bearer_credentials(request):
            return BearerRequestSession(get_clock(request.registry).now())
        return self.inner(request)


def wrap_session_factory(registry: Any) -> None:
    inner = registry.queryUtility(ISessionFactory)
    if inner is not None and not isinstance(inner, BearerAwareSessionFactory):
        registry.registerUtility(BearerAwareSessionFactory(inner), ISessionFactory)


def refuse_bearer(request: Request) -> Response:
    audit.record_refusal(request, "bearer_refused")
    return Response(json_body={"error": REFUSAL}, status=400)


def bearer_view(view: Callable, info: Any) -> Callable:
    """The view deriver: see the module docstring."""
    if info.exception_only or info.options.get("accepts_bearer"):
        return view

    def guarded(context: Any, request: Request) -> Any:
        if request.method in UNSAFE_METHODS and has_bearer_credentials(request):
            return refuse_bearer(request)
        return view(context, request)

    return guarded


bearer_view.options = ("accepts_bearer",)  # type: ignore[attr-defined]


def includeme(config: Any) -> None:
    config.add_view_deriver(bearer_view, under="secured_view", over="csrf_view")
    config.action(("sessapp.security.bearer", "session factory"),
                  lambda: wrap_session_factory(config.registry), order=WRAP_ORDER)
