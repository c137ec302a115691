"""The resource tree's root and its ACL: deny unless an entry allows."""

from __future__ import annotations

from typing import Any

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow, Authenticated, Everyone
from pyramid.location import lineage

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


def _mentions(ace_permissions: Any, permission: str) -> bool:
    if ace_permissions is ALL_PERMISSIONS:
        return True
    if isinstance(ace_permissions, str):
        return ace_permissions == permission
    return permission in ace_permissions


def granted_to_everyone(context: Any, permission: str) -> bool:
    """True when nobody's identity can change the verdict: the first entry in the
    lineage that mentions ``permission`` allows it to Everyone. Pages like that
    are then served without loading the session at all."""
    for location in lineage(context):
        acl = getattr(location, "__acl__", ())
        for action, principal, permissions in acl() if callable(acl) else acl:
            if _mentions(permissions, permission):
                return action == Allow and principal == Everyone
    return False


class Root:
    __acl__ = [
        (Allow, Everyone, PUBLIC),
        (Allow, Authenticated, ACCOUNT),
        (Allow, f"role:{ADMIN_ROLE}", ADMIN),
        DENY_ALL,
    ]

    def __init__(self, request: Any) -> None:
        self.request = request
