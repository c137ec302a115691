"""The resource tree's root and its ACL: deny unless an entry allows.

API tokens are limited by their scopes through this same ACL. A scope is the
name of the permission it grants (``read``, ``write``, ``admin``); a request's
principals carry the scopes it holds (``scope:read`` ...). A signed-in browser
holds every scope its roles give; a token holds the scopes it was made with,
and only as long as the roles still give them. A token's requests also carry
:data:`TOKEN_PRINCIPAL`, which the ACL denies everything its scopes did not
allow: the browser pages (``account``) and making tokens stay out of reach of
any token, whoever owns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyramid.authorization import (
    ALL_PERMISSIONS,
    DENY_ALL,
    Allow,
    Authenticated,
    Deny,
    Everyone,
)
from pyramid.location import lineage

from ..accounts import scopes

# Public pages: anyone, signed in or not.
PUBLIC = "view"
# Pages about one's own account, for a signed-in browser.
ACCOUNT = "account"
# The API's GET routes: scope ``read``.
READ = scopes.READ
# The API's writes (deleting tokens among them): scope ``write``, which also reads.
WRITE = scopes.WRITE
# The admin pages: scope ``admin``, which only the admin role gives.
ADMIN = scopes.ADMIN
# Second factors: seeing and setting up one's own, signing out, re-authenticating.
# The only permission (with PUBLIC) of a user who must enrol in a second factor
# first (auth.mfa.required_roles): see policies.py.
ENROL = "enrol"
# Making an API token: a signed-in browser's, never a token's.
ISSUE_TOKEN = "issue_token"  # noqa: S105 - a permission name
# Views that forget to declare a permission get this one, which no entry grants.
DEFAULT = "unassigned"

ADMIN_ROLE = scopes.ADMIN_ROLE
# Carried by every request a token authenticates.
TOKEN_PRINCIPAL = "credential:token"  # noqa: S105 - a principal name


def principals_for_user(user: Any) -> list[str]:
    """A signed-in browser's principals: its roles and every scope they give."""
    return [
        Everyone,
        Authenticated,
        f"user:{user.id}",
        *(f"role:{role}" for role in user.roles),
        *(f"scope:{scope}" for scope in scopes.scopes_for_roles(user.roles)),
    ]


def principals_for_token(user: Any, token_scopes: Iterable[str]) -> list[str]:
    """A token's principals: the scopes it was made with that the user's roles
    still give (an admin token of a former admin is no admin token), and the
    mark that it is a token."""
    granted = set(token_scopes)
    return [
        Everyone,
        Authenticated,
        f"user:{user.id}",
        TOKEN_PRINCIPAL,
        *(f"role:{role}" for role in user.roles),
        *(f"scope:{scope}" for scope in scopes.scopes_for_roles(user.roles)
          if scope in granted),
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
        (Allow, f"scope:{READ}", READ),
        (Allow, f"scope:{WRITE}", (READ, WRITE)),
        (Allow, f"scope:{ADMIN}", ADMIN),
        # A token has what its scopes allowed above, and nothing else.
        (Deny, TOKEN_PRINCIPAL, ALL_PERMISSIONS),
        (Allow, Authenticated, (ACCOUNT, ISSUE_TOKEN, ENROL)),
        # Security policies of other packages know roles, not scopes.
        (Allow, Authenticated, (READ, WRITE)),
        (Allow, f"role:{ADMIN_ROLE}", ADMIN),
        DENY_ALL,
    ]

    def __init__(self, request: Any) -> None:
        self.request = request
