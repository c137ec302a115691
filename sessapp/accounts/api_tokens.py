"""API tokens for scripts: created with a secret shown once, stored as SHA-256."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..models import ApiToken, User
from ..sessions.tokens import hash_token, new_token

PREFIX = "sessapp_"
MAX_NAME_LENGTH = 100


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
