"""A third-party security policy, as an outside package would write one, for
plugging into ``auth.policies`` by dotted name (``custom_policy.HeaderPolicy``).

It trusts an ``X-Test-User: <user id>`` header, which only a test may do. It lives
outside ``test_*.py`` so that importing it by name never re-imports a test module.
"""

from __future__ import annotations

from typing import Any

from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.interfaces import ISecurityPolicy
from zope.interface import implementer

from sessapp.models import User

HEADER = "X-Test-User"


@implementer(ISecurityPolicy)
class HeaderPolicy:
    def identity(self, request: Any) -> Any:
        value = request.headers.get(HEADER, "")
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            return None
        user = request.dbsession.get(User, int(value))
        return None if user is None or user.disabled else user

    def authenticated_userid(self, request: Any) -> str | None:
        user = self.identity(request)
        return None if user is None else str(user.id)

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        user = self.identity(request)
        principals = [Everyone]
        if user is not None:
            principals += [Authenticated, f"user:{user.id}",
                           *(f"role:{role}" for role in user.roles)]
        return ACLHelper().permits(context, principals, permission)

    def remember(self, request: Any, userid: Any, **kw: Any) -> list[Any]:
        return []

    def forget(self, request: Any, **kw: Any) -> list[Any]:
        return []


class NotAPolicy:
    """Importable, but not a security policy: startup must refuse it."""
