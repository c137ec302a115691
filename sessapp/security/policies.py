"""The security policies and the chain that asks them in the INI's order.

``session``: the user already loaded with the session row (no second query),
refused when disabled or when the session predates the user's sessions epoch.
``bearer``: ``Authorization: Bearer <token>``, stored hashed, with expiry and
revocation; its principals carry the token's scopes (see ``acl``), read from
the token row the one query already loaded. A request that carries a bearer
header is *claimed* by that policy: the chain never falls back to the cookie
for it, so a script's failed token cannot ride on a browser's ambient session,
and CSRF can be skipped safely.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pyramid.authorization import ACLHelper, Everyone
from pyramid.interfaces import ISecurityPolicy
from pyramid.request import RequestLocalCache
from pyramid.security import Denied
from zope.interface import Interface, implementer

from ..accounts import api_tokens
from ..accounts.factor_policy import must_enrol
from ..clock import get_clock
from ..i18n import _
from ..models import User
from ..sessions.reader import SeparateReader
from .acl import ENROL, PUBLIC, granted_to_everyone, principals_for_token, principals_for_user
from .csrf import SESSION_KEY as CSRF_SESSION_KEY
from .csrf import has_bearer_credentials

if TYPE_CHECKING:
    from pyramid.request import Request

# What a user who must enrol in a second factor may still do (auth.mfa.required_roles).
WHILE_ENROLLING = frozenset({PUBLIC, ENROL})
ENROL_FIRST = _("A second factor is required for your role: set one up first.")

# last_used_at is advisory: refresh it at most this often to keep API reads write-free.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class IClaimingPolicy(Interface):
    """A policy that takes whole requests for itself. A third-party policy for
    ``Authorization: Bearer`` credentials must provide this (and ``claims``
    them), since the chain lets no other policy answer a bearer request."""

    def claims(request):
        """True when this policy alone must judge the request."""


class _UserPolicy:
    """What the session and bearer policies share: a ``User`` identity."""

    def authenticated_userid(self, request: Request) -> str | None:
        user = self.identity(request)
        return None if user is None else str(user.id)

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        user = self.identity(request)
        if user is not None and permission not in WHILE_ENROLLING and \
                must_enrol(request.registry.sessapp_settings, user):
            return Denied(ENROL_FIRST)
        principals = [Everyone] if user is None else self.principals(request, user)
        return ACLHelper().permits(context, principals, permission)

    def principals(self, request: Request, user: User) -> list[str]:
        return principals_for_user(user)

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[Any]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[Any]:
        return []


@implementer(ISecurityPolicy)
class SessionSecurityPolicy(_UserPolicy):
    def identity(self, request: Request) -> Any:
        session = request.session
        user = session.identity
        if user is None or user.disabled or session.created_at < user.sessions_epoch:
            return None
        return user

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[Any]:
        """Sign ``kw['user']`` in: a new session id, the old one dead.

        A visitor's own data (a cart, a preference) moves over from an anonymous
        session, but never its CSRF token; signing in as someone else than the
        session's user keeps nothing at all.
        """
        user = kw.get("user")
        if user is None:
            user = request.dbsession.get(User, int(userid))
        session = request.session
        if session.user_id is None:
            keep = [key for key in session if key != CSRF_SESSION_KEY]
        else:
            keep = None if session.user_id == user.id else []
        session.rotate(user_id=user.id, identity=user, keep=keep)
        return []

    def forget(self, request: Request, **kw: Any) -> list[Any]:
        request.session.invalidate()
        return []


@implementer(ISecurityPolicy, IClaimingPolicy)
class BearerSecurityPolicy(_UserPolicy):
    def __init__(self) -> None:
        # identity() is asked more than once a request (the chain, then permits());
        # without the cache each time was another token query (measured by bench/).
        self._cache = RequestLocalCache(self._load_identity)
        # Where the token is read: outside the request's transaction when the
        # database allows (as the session is), so a read-only API call opens none.
        self._reader = SeparateReader()

    def claims(self, request: Request) -> bool:
        return has_bearer_credentials(request)

    def identity(self, request: Request) -> Any:
        return self._cache.get_or_create(request)

    def principals(self, request: Request, user: User) -> list[str]:
        return principals_for_token(user, request.api_token.scopes)

    def _load_identity(self, request: Request) -> Any:
        if not self.claims(request):
            return None
        secret = request.headers["Authorization"][7:].strip()
        now = get_clock(request.registry).now()
        found = api_tokens.lookup(request, secret, self._reader)
        if found is None:
            return None
        token, user = found
        if not token.is_live(now) or user.disabled or token.created_at < user.sessions_epoch:
            return None
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            api_tokens.record_use(request.dbsession, token.id, now)
        request.api_token = token
        return user


@implementer(ISecurityPolicy)
class PolicyChain:
    """Asks each policy in turn; the first identity wins, and that policy answers
    ``permits`` for the request. ``remember``/``forget`` go to the session policy."""

    def __init__(self, policies: list[Any]) -> None:
        self.policies = policies
        self.remembering = next(
            (p for p in policies if isinstance(p, SessionSecurityPolicy)), policies[0]
        )
        self._cache = RequestLocalCache(self._resolve)

    def _resolve(self, request: Request) -> tuple[Any, Any]:
        for policy in self.policies:
            if IClaimingPolicy.providedBy(policy) and policy.claims(request):
                return policy, policy.identity(request)
        if has_bearer_credentials(request):
            # CSRF is skipped for bearer requests, so only a policy that claims
            # them may answer: a cookie (or any other ambient credential) never
            # does, whichever policies the INI lists.
            return None, None
        for policy in self.policies:
            identity = policy.identity(request)
            if identity is not None:
                return policy, identity
        return None, None

    def identity(self, request: Request) -> Any:
        return self._cache.get_or_create(request)[1]

    def authenticated_userid(self, request: Request) -> str | None:
        policy, identity = self._cache.get_or_create(request)
        return None if identity is None else policy.authenticated_userid(request)

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        if granted_to_everyone(context, permission):
            return ACLHelper().permits(context, [Everyone], permission)
        policy, identity = self._cache.get_or_create(request)
        if identity is None:
            return ACLHelper().permits(context, [Everyone], permission)
        return policy.permits(request, context, permission)

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[Any]:
        self._cache.clear(request)
        return self.remembering.remember(request, userid, **kw)

    def forget(self, request: Request, **kw: Any) -> list[Any]:
        self._cache.clear(request)
        return self.remembering.forget(request, **kw)
