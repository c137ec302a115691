"""Signing up: a throttled, audited account creation that signs the new user in."""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..models import User
from . import audit, email_addresses, throttle
from .errors import AccountError, FormErrors, Throttled, form_errors
from .signin import start_session
from .users import check_new_account, create_user


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
    address_refused = None
    if wants_email:
        try:
            display, key = email_addresses.normalize(email)
            if email_addresses.owner(request.dbsession, key) is not None:
                raise AccountError(email_addresses.TAKEN, "email")
        except AccountError as exc:
            address_refused = exc
    if address_refused is not None:
        # Every field is judged before anything is refused, so the form shows
        # all its errors at once; nothing is created.
        try:
            check_new_account(request.dbsession, request.registry.password_policy,
                              username, password)
        except AccountError as exc:
            raise FormErrors({**form_errors(exc), "email": address_refused.message}) from None
        raise address_refused
    user = create_user(request.dbsession, request.registry.password_hasher,
                       request.registry.password_policy, username, password, now)
    if wants_email:
        email_addresses.assign(request.dbsession, user, display, verified_at=None)
        email_addresses.send_verification(request, user, display)
    audit.record(request, "register", user=user)
    start_session(request, user)
    return user
