"""Signing in with a passkey alone: the passkey's check
(:mod:`.passkeys`), then the same session start as a password sign-in
(:func:`.signin.start_session`), so the two can never drift apart.

Kept apart from both so that neither imports the other: the sign-in rules may
ask whether a user has passkeys, and this needs the sign-in rules.
"""

from __future__ import annotations

from typing import Any

from ..models import User
from . import passkeys
from .signin import start_session


def sign_in_with_passkey(request: Any, credential: Any) -> User:
    """Sign in the user whose discoverable passkey answered the challenge of
    :func:`.passkeys.sign_in_options`; raises
    :class:`~.webauthn_ceremony.CeremonyFailed`, and signs nobody in, otherwise."""
    user = passkeys.verify_sign_in(request, credential)
    start_session(request, user)
    return user
