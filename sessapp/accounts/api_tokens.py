"""API tokens for scripts: created with a secret shown once, stored as SHA-256.

The use cases (:func:`issue`, :func:`withdraw`) are what the views call; the
functions below them are the rules and statements they are made of, which the
bearer policy (:func:`lookup`) and account changes (:func:`revoke_all`) share.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..clock import get_clock
from ..models import ApiToken, User
from ..sessions.tokens import hash_token, new_token
from . import audit
from .errors import AccountError, NotFound, Throttled

PREFIX = "sessapp_"
MAX_NAME_LENGTH = 100


def issue(request: Any, user: User, name: Any, days: Any) -> tuple[ApiToken, str]:
    """Create a token for ``user``: the token and its secret, shown this once.

    Raises an ``AccountError`` naming the field (``name``, ``expires_in_days``)
    for a bad value, or :class:`Throttled` past the per-user creation limit.
    """
    max_days = request.registry.sessapp_settings.auth.api_token_max_days
    if (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH
            or not name.isprintable()):
        raise AccountError(f"name must be 1 to {MAX_NAME_LENGTH} printable characters.", "name")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise AccountError(f"expires_in_days must be a whole number from 1 to {max_days}.",
                           "expires_in_days")
    limit = request.registry.throttle_limits["api_token_user"]
    now = get_clock(request.registry).now()
    wait = limit.retry_after(request.dbsession, str(user.id), now)
    if wait is not None:
        audit.record(request, "api_token_throttled", user=user, store=False)
        raise Throttled("Too many tokens created; try again later.", wait)
    limit.count(request.dbsession, str(user.id), now)
    created = create(request.dbsession, user, name.strip(), days, now)
    audit.record(request, "api_token_created", user=user)
    return created


def withdraw(request: Any, user: User, token_id: int | None) -> None:
    """Revoke one of ``user``'s tokens: it stops working at once. Raises
    :class:`NotFound` for an id that is not one of theirs."""
    if token_id is None or not revoke(request.dbsession, user.id, token_id,
                                      get_clock(request.registry).now()):
        raise NotFound("No such token.")
    audit.record(request, "api_token_revoked", user=user)


def create(
    dbsession: Session, user: User, name: str, days: int, now: datetime
) -> tuple[ApiToken, str]:
    secret = PREFIX + new_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    dbsession.add(token)
    dbsession.flush()
    return token, secret


# Built once, like the session load: every bearer request runs it.
_LOOKUP = (
    select(ApiToken, User).join(User, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def lookup(dbsession: Session, secret: str) -> tuple[ApiToken, User] | None:
    """The token and its user in one query; None for anything malformed."""
    if not secret.startswith(PREFIX) or len(secret) != len(PREFIX) + 43:
        return None
    try:
        token_hash = hash_token(secret)
    except UnicodeEncodeError:
        return None
    row = dbsession.execute(_LOOKUP, {"token_hash": token_hash}).first()
    return None if row is None else (row[0], row[1])


def list_for_user(dbsession: Session, user_id: int) -> list[ApiToken]:
    return list(
        dbsession.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
        )
    )


def revoke(dbsession: Session, user_id: int, token_id: int, now: datetime) -> bool:
    """Revoke one of ``user_id``'s own tokens; False if there is no such token."""
    token = dbsession.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    ).first()
    if token is None:
        return False
    if token.revoked_at is None:
        token.revoked_at = now
    return True


def revoke_all(dbsession: Session, user_id: int, now: datetime) -> None:
    dbsession.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
