"""Signing up: a throttled, audited account creation that signs the new user in."""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..models import User
from . import audit, email_addresses, throttle
from .errors import AccountError, Throttled
from .signin import start_session
from .users import create_user


def register(request: Any, username: str, password: str, email: str | None = None) -> User:
    """Create the account and sign it in; raises :class:`Throttled`, or an
    ``AccountError`` naming the field that broke a rule (username taken or
    malformed, weak password, address missing, malformed or taken). When
    ``auth.email.required``, ``email`` is required and gets a verification
    link; otherwise it is ignored.

    Every attempt from an IP that gets past the throttle counts against it,
    successful or not, so the throttle also bounds how fast one client can
    probe which names are taken.
    """
    limit = request.registry.throttle_limits["register_ip"]
    now = get_clock(request.registry).now()
    client = throttle.client_key(request.client_addr)
    wait = limit.retry_after(request.dbsession, client, now)
    if wait is not None:
        audit.record(request, "register_throttled", username=username, store=False)
        raise Throttled(throttle.wait_message(wait), wait)
    limit.count(request.dbsession, client, now)
    wants_email = request.registry.sessapp_settings.auth.email_required
    if wants_email:
        if not email:
            raise AccountError(email_addresses.INVALID, "email")
        display, key = email_addresses.normalize(email)
        if email_addresses.owner(request.dbsession, key) is not None:
            raise AccountError(email_addresses.TAKEN, "email")
    user = create_user(request.dbsession, request.registry.password_hasher,
                       request.registry.password_policy, username, password, now)
    if wants_email:
        email_addresses.assign(request.dbsession, user, display, verified_at=None)
        email_addresses.send_verification(request, user, display)
    audit.record(request, "register", user=user)
    start_session(request, user)
    return user
