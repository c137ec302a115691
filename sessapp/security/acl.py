"""The resource tree's root and its ACL: deny unless an entry allows."""

from __future__ import annotations

from typing import Any

from pyramid.authorization import DENY_ALL, Allow, Authenticated, Everyone

# Public pages: anyone, signed in or not.
PUBLIC = "view"
# Pages about one's own account.
ACCOUNT = "account"
# The admin pages.
ADMIN = "admin"
# Views that forget to declare a permission get this one, which no entry grants.
DEFAULT = "unassigned"

ADMIN_ROLE = "admin"


def principals_for_user(user: Any) -> list[str]:
    return [
        Everyone,
        Authenticated,
        f"user:{user.id}",
        *(f"role:{role}" for role in user.roles),
    ]


class Root:
    __acl__ = [
        (Allow, Everyone, PUBLIC),
        (Allow, Authenticated, ACCOUNT),
        (Allow, f"role:{ADMIN_ROLE}", ADMIN),
        DENY_ALL,
    ]

    def __init__(self, request: Any) -> None:
        self.request = request
