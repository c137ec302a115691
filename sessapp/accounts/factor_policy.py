"""Which users have a second factor, and which must: read from the user row
alone (loaded with the session in its one query), so a policy may ask on every
request without a statement.

A new kind of factor (passkeys) keeps a column of its own on the user row (a
count or a flag its use cases maintain) and adds it to :func:`has_second_factor`.
"""

from __future__ import annotations

from typing import Any

from ..models import User


def has_second_factor(user: User) -> bool:
    """Whether ``user`` has any second factor."""
    return user.totp_enabled_at is not None or user.passkey_count > 0


def must_enrol(settings: Any, user: User) -> bool:
    """Whether ``user`` holds a role of ``auth.mfa.required_roles`` (``settings``
    is the app's :class:`~sessapp.settings.SessappSettings`) but no factor: such
    a user may do nothing but enrol (or sign out)."""
    required = settings.auth.mfa_required_roles
    return bool(required) and not has_second_factor(user) and \
        any(role in required for role in user.roles)
