"""The use cases of accounts: signing in, re-authenticating, registering,
changing passwords, API tokens, admin actions, and the rules they share
(passwords, usernames, throttling, the audit trail).

Each use case is one function a view or a console script calls. This package
never reads a form or renders a page; it knows the request only as the place
its database session, clock and client address come from. It imports
``sessapp.sessions`` and ``sessapp.models``, never ``sessapp.security`` or
``sessapp.views``.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from . import throttle
from .mail_delivery import MailDispatcher
from .password_policy import PasswordPolicy
from .passwords import PasswordHasher


def includeme(config: Any) -> None:
    """Register the account rules that depend on settings (bcrypt cost, password
    length, throttle limits) once, on the registry."""
    config.include("sessapp.settings")
    settings = config.registry.sessapp_settings
    config.registry.password_hasher = PasswordHasher(settings.auth.bcrypt_rounds)
    config.registry.password_policy = PasswordPolicy(settings.auth.password_min_length)
    config.registry.throttle_limits = throttle.limits(settings)
    registry = config.registry
    # Started by the first mail queued, or by main() for a served app.
    registry.mail_dispatcher = MailDispatcher(registry, lambda: get_clock(registry).now())
