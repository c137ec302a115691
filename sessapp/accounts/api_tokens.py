"""API tokens for scripts: created with a secret shown once, stored as SHA-256,
limited to scopes (see :mod:`.scopes`).

The rules and statements: making one (:func:`create`), finding one for the
bearer policy (:func:`lookup`, one query with its user), listing and revoking.
The use cases that make and withdraw a token, with proof of identity and the
audit trail, are in :mod:`.own_account`; this module imports no use case, so
the account rules (:func:`.users.disable`) can revoke tokens through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import zope.sqlalchemy
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..i18n import _
from ..models import ApiToken, User
from ..models.session_identity import attach_user, detached_user
from ..sessions.reader import SeparateReader
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


@dataclass(frozen=True)
class PresentedToken:
    """What a bearer request needs of its token row: enough to judge it
    (:meth:`is_live`), to scope it and to record its use; not an ORM object, so
    reading it costs no ORM load and no transaction."""

    id: int
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None
    scopes: tuple[str, ...]

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


_TOKENS = ApiToken.__table__
_USERS = User.__table__
_TOKEN_COLUMNS = ("id", "user_id", "created_at", "last_used_at", "expires_at", "revoked_at",
                  "scopes")
_USER_KEYS = tuple(column.key for column in _USERS.c)
# Built once, like the session load: every bearer request runs it. Core, not
# the ORM: the token and its user come back as one row, as the session's do.
_LOOKUP = (
    select(*(_TOKENS.c[name] for name in _TOKEN_COLUMNS),
           *(column.label(f"user__{column.key}") for column in _USERS.c))
    .select_from(_TOKENS.join(_USERS, _TOKENS.c.user_id == _USERS.c.id))
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)


def _hash_of(secret: str) -> str | None:
    if not secret.startswith(PREFIX) or len(secret) != len(PREFIX) + 43:
        return None
    try:
        return hash_token(secret)
    except UnicodeEncodeError:
        return None


def lookup(request: Any, secret: str,
           reader: SeparateReader) -> tuple[PresentedToken, User] | None:
    """The token and its user in ONE statement; None for anything malformed or
    unknown.

    Read as the session is (:class:`~sessapp.sessions.reader.SeparateReader`):
    where the database allows, outside the request's transaction, which a
    read-only API request then never opens (on PostgreSQL no BEGIN and ROLLBACK
    round trips); inside it otherwise, the user then joining
    ``request.dbsession`` so that a view's change to it commits with the request.
    ``reader`` belongs to the app (it keeps the app's engine).
    """
    token_hash = _hash_of(secret)
    if token_hash is None:
        return None
    parameters = {"token_hash": token_hash}
    engine = reader(request)
    if engine is not None:
        with engine.connect() as connection:
            row = connection.execute(_LOOKUP, parameters).first()
    else:
        row = request.dbsession.execute(_LOOKUP, parameters).first()
    if row is None:
        return None
    values = row._mapping
    token = PresentedToken(
        id=values["id"], user_id=values["user_id"], created_at=values["created_at"],
        last_used_at=values["last_used_at"], expires_at=values["expires_at"],
        revoked_at=values["revoked_at"], scopes=tuple(values["scopes"].split()))
    user = detached_user({key: values[f"user__{key}"] for key in _USER_KEYS})
    if engine is None:
        user = attach_user(user, request.dbsession)
    return token, user


def record_use(dbsession: Session, token_id: int, now: datetime) -> None:
    """``last_used_at = now``, in the request's transaction (a failed request
    leaves it as it was)."""
    dbsession.execute(update(ApiToken).where(ApiToken.id == token_id)
                      .values(last_used_at=now).execution_options(synchronize_session=False))
    zope.sqlalchemy.mark_changed(dbsession)


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
