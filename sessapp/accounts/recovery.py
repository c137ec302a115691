"""Getting back in without the password: a reset link mailed to the
account's verified address.

Asking for a link answers the same, in the same time, whether or not an
account has the address: both paths count the throttle, render a message and
run the same statements but the two INSERTs of a link and its mail, and the
mail itself leaves after the commit, from the delivery thread. Only a verified
address of an enabled account gets a link; a newer request, a password change
or a reset kills every older link. A reset ends every session and API token
and does not sign anyone in: whoever holds the link proves only the mailbox.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..models import OneTimeLink, User
from . import audit, email_addresses, notices, one_time_links, outbox, throttle
from .errors import AccountError, Throttled
from .users import end_sessions_and_tokens, set_password

# Stands in for a user when none has the address, so the unknown path renders
# the same message the known path sends.
_NOBODY = User(id=0, username="", email=None)


def request_reset(request: Any, address: Any) -> None:
    """Mail a reset link if ``address`` is an enabled account's verified
    address; the same outcome for the caller otherwise. Raises
    ``AccountError`` about ``email`` for a malformed address, ``Throttled``
    past the per-address or per-IP budget (each request counts, whatever the
    address)."""
    display, key = email_addresses.normalize(address)
    limits, now = request.registry.throttle_limits, get_clock(request.registry).now()
    client = throttle.client_key(request.client_addr)
    for limit, counted in ((limits["reset_address"], key), (limits["reset_ip"], client)):
        wait = limit.retry_after(request.dbsession, counted, now)
        if wait is not None:
            audit.record(request, "reset_throttled", store=False)
            raise Throttled(throttle.wait_message(wait), wait, "email")
    for limit, counted in ((limits["reset_address"], key), (limits["reset_ip"], client)):
        limit.count(request.dbsession, counted, now)
    user = email_addresses.owner(request.dbsession, key)
    known = user is not None and not user.disabled and user.verified_email is not None
    target = user if known else _NOBODY
    # Older links die (for nobody: the same statement, changing nothing).
    one_time_links.kill(request.dbsession, target.id, one_time_links.RESET, now)
    timeout = request.registry.sessapp_settings.auth.reset_timeout
    if known:
        token = one_time_links.issue(request.dbsession, user, one_time_links.RESET, now, timeout)
    else:
        token = "-" * 43
    # To the address on the account, never to the one as typed.
    message = notices.reset_link(request, target, user.email if known else display,
                                 one_time_links.path(one_time_links.RESET, token))
    if known:
        outbox.queue(request, [message])
    # Logged on both paths alike, stored on neither: a row for a known address
    # only would be a difference in time, and anyone may ask.
    audit.record(request, "password_reset_requested", user=target if known else None,
                 store=False)


def reset_link(request: Any, token: Any) -> tuple[OneTimeLink, User] | None:
    """The live reset link for ``token`` and its user (without using it), or None."""
    found = one_time_links.find(request.dbsession, one_time_links.RESET, token,
                                get_clock(request.registry).now())
    if found is None or found[1].disabled:
        return None
    return found


def reset_password(request: Any, token: Any, new_password: str) -> User | None:
    """Set the password through a reset link: every session and API token of
    the user ends, every reset link dies, the owner is told by mail. None for
    a dead link; ``AccountError`` about ``new_password`` for a weak one (the
    link then still works)."""
    found = reset_link(request, token)
    if found is None:
        return None
    link, user = found
    now = get_clock(request.registry).now()
    try:
        set_password(user, request.registry.password_hasher, request.registry.password_policy,
                     new_password, now)
    except AccountError as exc:
        raise AccountError(exc.message, "new_password") from None
    if not one_time_links.spend(request.dbsession, link, now):
        return None
    one_time_links.kill(request.dbsession, user.id, one_time_links.RESET, now)
    end_sessions_and_tokens(request.dbsession, user, now)
    # The owner is told by mail (notices.EVENT_NOTICES).
    audit.record(request, "password_reset", user=user)
    return user
