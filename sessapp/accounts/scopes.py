"""API token scopes: which exist, which a user may hold, and reading them from
what a person sent.

A scope is the name of the permission it grants (``security.acl`` grants it),
so this module only knows names and the rule of who may have which: every
user holds ``read`` and ``write``; ``admin`` is only the admin role's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..i18n import _
from .errors import AccountError

READ = "read"
WRITE = "write"
ADMIN = "admin"
# Every scope, in the order they are shown.
SCOPES = (READ, WRITE, ADMIN)
# What a token gets when its maker names no scope: it can look, not touch.
DEFAULT_SCOPES = (READ,)

ADMIN_ROLE = "admin"
_FOR_EVERY_USER = (READ, WRITE)
_FOR_ROLE = {ADMIN_ROLE: (ADMIN,)}


def scopes_for_roles(roles: Iterable[str]) -> list[str]:
    """Every scope a user with ``roles`` holds, and so may put on a token."""
    held = set(_FOR_EVERY_USER)
    for role in roles:
        held.update(_FOR_ROLE.get(role, ()))
    return [scope for scope in SCOPES if scope in held]


def parse_scopes(value: Any, roles: Iterable[str]) -> list[str]:
    """The scopes asked for (a list of names; None for the default), in their
    canonical order. Raises an ``AccountError`` about ``scopes`` for anything
    else, an unknown name, or a scope the user's roles do not give."""
    if value is None:
        return list(DEFAULT_SCOPES)
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(name, str) for name in value)):
        raise AccountError(_("scopes must be a non-empty list of: ${scopes}.",
                             mapping={"scopes": ", ".join(SCOPES)}),
                           "scopes")
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise AccountError(_("Unknown scope ${name}; the scopes are: ${scopes}.",
                             mapping={"name": repr(unknown[0]), "scopes": ", ".join(SCOPES)}),
                           "scopes")
    held = scopes_for_roles(roles)
    withheld = [name for name in SCOPES if name in value and name not in held]
    if withheld:
        raise AccountError(_("You cannot grant the ${name} scope.", mapping={"name": withheld[0]}),
                           "scopes")
    return [name for name in SCOPES if name in value]
