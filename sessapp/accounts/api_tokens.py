"""API tokens for scripts: created with a secret shown once, stored as SHA-256,
limited to scopes (see :mod:`.scopes`).

The rules and statements: making one (:func:`create`), finding one for the
bearer policy (:func:`lookup`, one query with its user), listing and revoking.
The use cases that make and withdraw a token, with proof of identity and the
audit trail, are in :mod:`.own_account`; this module imports no use case, so
the account rules (:func:`.users.disable`) can revoke tokens through it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..i18n import _
from ..models import ApiToken, User
from ..sessions.tokens import hash_token, new_token
from .errors import AccountError

PREFIX = "sessapp_"
MAX_NAME_LENGTH = 100


def check_name_and_days(name: Any, days: Any, max_days: int) -> tuple[str, int]:
    """The name (stripped) and lifetime asked for; an ``AccountError`` naming
    the field (``name``, ``expires_in_days``) for a bad one."""
    if (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH
            or not name.isprintable()):
        raise AccountError(_("name must be 1 to ${most} printable characters.",
                             mapping={"most": MAX_NAME_LENGTH}), "name")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise AccountError(_("expires_in_days must be a whole number from 1 to ${most}.",
                             mapping={"most": max_days}),
                           "expires_in_days")
    return name.strip(), days


def create(
    dbsession: Session, user: User, name: str, days: int, now: datetime,
    scopes: list[str],
) -> tuple[ApiToken, str]:
    secret = PREFIX + new_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    token.scopes = scopes
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


def revoke_all(dbsession: Session, user_id: int, now: datetime) -> int:
    """Revoke every live token of ``user_id`` in one statement; how many were."""
    result = dbsession.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
