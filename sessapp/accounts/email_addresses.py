"""E-mail addresses on accounts: checking them, proving them, changing them.

An address is normalized and checked by ``email-validator`` (syntax only: no
DNS look-up, which would be slow, leak what is typed and fail offline) and
compared case-insensitively, one account per address. It counts for mail
(reset links, notices) only once verified: a link mailed to it was followed.

A change is asked for with proof of identity and happens only when the new
address confirms it; meanwhile the old address is told, with a link that
keeps it (and signs everyone out, since whoever asked was not the owner).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import get_clock
from ..i18n import _
from ..models import User
from . import audit, notices, one_time_links, outbox
from .errors import AccountError
from .signin import confirm_identity
from .users import end_sessions_and_tokens

MAX_LENGTH = 320
INVALID = _("That is not a valid e-mail address.")
TAKEN = _("That e-mail address belongs to another account.")


def normalize(address: Any) -> tuple[str, str]:
    """The address as it will be stored and written to, and its key for
    comparisons; an ``AccountError`` about ``email`` for anything else."""
    if not isinstance(address, str) or not address.strip() or len(address) > MAX_LENGTH:
        raise AccountError(INVALID, "email")
    try:
        # No DNS, and no SMTPUTF8: a local part outside ASCII would need
        # every relay on the way to support it. A Unicode domain is kept in
        # its ASCII (IDNA) form, which every server takes.
        checked = validate_email(address.strip(), check_deliverability=False,
                                 allow_smtputf8=False)
    except EmailNotValidError:
        raise AccountError(INVALID, "email") from None
    stored = checked.ascii_email or checked.normalized
    return stored, email_key(stored)


def email_key(normalized: str) -> str:
    return normalized.casefold()


def owner(dbsession: Session, key: str) -> User | None:
    return dbsession.scalars(select(User).where(User.email_key == key)).first()


def find_by_address(dbsession: Session, address: Any) -> User | None:
    """The account with this address; None for none and for a malformed one."""
    try:
        _display, key = normalize(address)
    except AccountError:
        return None
    return owner(dbsession, key)


def _check_free(dbsession: Session, key: str, user: User) -> None:
    found = owner(dbsession, key)
    if found is not None and found.id != user.id:
        raise AccountError(TAKEN, "email")


def assign(dbsession: Session, user: User, address: str, *,
           verified_at: datetime | None) -> None:
    """Give ``user`` the address (normalized), verified as of ``verified_at``
    or not at all; an ``AccountError`` if it is malformed or someone else's."""
    display, key = normalize(address)
    _check_free(dbsession, key, user)
    user.email, user.email_key, user.email_verified_at = display, key, verified_at


def set_from_shell(dbsession: Session, user: User, address: str, now: datetime) -> None:
    """``sessapp-user INI set-email``: the operator vouches for the address."""
    assign(dbsession, user, address, verified_at=now)
    one_time_links.kill(dbsession, user.id, one_time_links.VERIFY, now)
    audit.record_from_shell(dbsession, "shell_email_set", now, user=user)


def send_verification(request: Any, user: User, address: str) -> None:
    """Mail ``address`` a link that proves it is ``user``'s; older pending links
    die (only the newest address asked for can be confirmed)."""
    now = get_clock(request.registry).now()
    one_time_links.kill(request.dbsession, user.id, one_time_links.VERIFY, now)
    token = one_time_links.issue(request.dbsession, user, one_time_links.VERIFY, now,
                                 request.registry.sessapp_settings.auth.reset_timeout,
                                 email=address)
    outbox.queue(request, [notices.verification(
        request, user, address, one_time_links.path(one_time_links.VERIFY, token))])


def request_change(request: Any, user: User, current_password: str, address: Any) -> str:
    """After proof of identity, mail a confirmation link to the new address and
    a notice with an undo link to the old one (when verified); returns the new
    address. Asking again for the current, unverified address sends its link
    again. Raises ``AccountError`` (``current_password``, ``email``) or
    ``Throttled``; nothing is sent then."""
    confirm_identity(request, user, current_password)
    display, key = normalize(address)
    if key == user.email_key and user.email_verified_at is not None:
        raise AccountError(_("That is already your address."), "email")
    _check_free(request.dbsession, key, user)
    send_verification(request, user, display)
    old = user.verified_email
    if old is not None:
        now = get_clock(request.registry).now()
        token = one_time_links.issue(request.dbsession, user, one_time_links.UNDO_EMAIL, now,
                                     request.registry.sessapp_settings.auth.reset_timeout,
                                     email=old)
        outbox.queue(request, [notices.address_change_requested(
            request, user, old, display, one_time_links.path(one_time_links.UNDO_EMAIL, token))])
    audit.record(request, "email_change_requested", user=user)
    return display


def verify_link(request: Any, token: Any) -> Any:
    """The live verification link for ``token`` (without using it), or None."""
    return one_time_links.find(request.dbsession, one_time_links.VERIFY, token,
                               get_clock(request.registry).now())


def confirm(request: Any, token: Any) -> User | None:
    """Follow a verification link: its address becomes the user's, verified.
    None for a dead link; ``AccountError`` if another account took the address
    in the meantime."""
    found = verify_link(request, token)
    if found is None:
        return None
    link, user = found
    now = get_clock(request.registry).now()
    # Taken meanwhile by another account: refused, and the link stays unused.
    _check_free(request.dbsession, email_key(link.email), user)
    if not one_time_links.spend(request.dbsession, link, now):
        return None
    changed = user.email_key is not None and user.email_key != email_key(link.email)
    assign(request.dbsession, user, link.email, verified_at=now)
    audit.record(request, "email_changed" if changed else "email_verified", user=user)
    return user


def undo_link(request: Any, token: Any) -> Any:
    return one_time_links.find(request.dbsession, one_time_links.UNDO_EMAIL, token,
                               get_clock(request.registry).now())


def undo_change(request: Any, token: Any) -> User | None:
    """Follow the old address's undo link: the old address is the account's
    again (verified), pending changes die, and every session and API token
    ends, since whoever asked for the change was signed in. None for a dead
    link."""
    found = undo_link(request, token)
    if found is None:
        return None
    link, user = found
    now = get_clock(request.registry).now()
    if not one_time_links.spend(request.dbsession, link, now):
        return None
    one_time_links.kill(request.dbsession, user.id, one_time_links.VERIFY, now)
    taken = owner(request.dbsession, email_key(link.email))
    if taken is None or taken.id == user.id:
        user.email, user.email_key = link.email, email_key(link.email)
        user.email_verified_at = now
    user.sessions_epoch = now
    end_sessions_and_tokens(request.dbsession, user, now)
    audit.record(request, "email_change_undone", user=user)
    return user
