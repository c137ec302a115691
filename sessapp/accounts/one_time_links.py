"""Links that work once: verify an address, reset a password, undo an address
change, end a session named in a sign-in notice.

The token (256 bits, URL-safe) travels only in the mail; the database keeps
its SHA-256, so a copy of the table opens nothing. A link serves one purpose,
dies after ``auth.reset_timeout`` seconds, and is spent by a conditional
UPDATE, so two clicks racing each other cannot both use it. Looking at a link
(:func:`find`) never spends it: pages opened by GET only show a button, since
mail scanners follow links.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..models import OneTimeLink, User
from ..sessions.tokens import hash_token, is_well_formed, new_token

VERIFY = "verify"
RESET = "reset"
UNDO_EMAIL = "undo_email"
END_SESSION = "end_session"

# Where each kind of link points, below ``sessapp.base_url``; sessapp.routes
# serves these same patterns.
PATHS = {
    VERIFY: "/email/verify/{token}",
    RESET: "/password/reset/{token}",
    UNDO_EMAIL: "/email/undo/{token}",
    END_SESSION: "/session-end/{token}",
}


def issue(dbsession: Session, user: User, purpose: str, now: datetime, lifetime: int, *,
          email: str | None = None, session_public_id: str | None = None) -> str:
    """A new link for ``user``; returns its token (the only copy)."""
    token = new_token()
    dbsession.add(OneTimeLink(
        token_hash=hash_token(token), purpose=purpose, user_id=user.id, email=email,
        session_public_id=session_public_id, created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    ))
    return token


def path(purpose: str, token: str) -> str:
    return PATHS[purpose].format(token=token)


def find(dbsession: Session, purpose: str, token: Any, now: datetime
         ) -> tuple[OneTimeLink, User] | None:
    """The live link of ``purpose`` with this token and its user; None for a
    token of the wrong shape, unknown, used, expired or made for another
    purpose, alike."""
    if not isinstance(token, str) or not is_well_formed(token):
        return None
    found = dbsession.execute(
        select(OneTimeLink, User).join(User, User.id == OneTimeLink.user_id)
        .where(OneTimeLink.token_hash == hash_token(token), OneTimeLink.purpose == purpose)
    ).first()
    if found is None:
        return None
    link, user = found
    if link.used_at is not None or now >= link.expires_at:
        return None
    return link, user


def spend(dbsession: Session, link: OneTimeLink, now: datetime) -> bool:
    """Use ``link`` up; False when another request used it first."""
    spent = dbsession.execute(
        update(OneTimeLink).where(OneTimeLink.id == link.id, OneTimeLink.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if spent:
        link.used_at = now
    return spent == 1


def prune(dbsession: Session, now: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` links that can no longer be used (expired;
    a used link lives on until its expiry, then goes too)."""
    ids = dbsession.scalars(
        select(OneTimeLink.id).where(OneTimeLink.expires_at <= now)
        .order_by(OneTimeLink.id).limit(batch_size)).all()
    if not ids:
        return 0
    return dbsession.execute(
        delete(OneTimeLink).where(OneTimeLink.id.in_(ids))
        .execution_options(synchronize_session=False)).rowcount


def kill(dbsession: Session, user_id: int, purpose: str, now: datetime) -> int:
    """Make every unused link of ``purpose`` for the user dead (a newer one was
    sent, or what it would change has changed)."""
    return dbsession.execute(
        update(OneTimeLink)
        .where(OneTimeLink.user_id == user_id, OneTimeLink.purpose == purpose,
               OneTimeLink.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
