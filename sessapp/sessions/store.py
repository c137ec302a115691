"""Every SQL statement about stored sessions, in one place.

The session object decides *what* to write; this module knows *how*. Writes are
plain UPDATE/DELETE statements by primary key so that a read-only request pays
nothing and a write pays one statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..models import SessionRecord, User
from .errors import SessionConflict

_NO_SYNC = {"synchronize_session": False}


def load(dbsession: Session, token_hash: str) -> tuple[SessionRecord, User | None] | None:
    """The session row and its user, in ONE query."""
    row = dbsession.execute(
        select(SessionRecord, User)
        .outerjoin(User, SessionRecord.user_id == User.id)
        .where(SessionRecord.token_hash == token_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def insert(dbsession: Session, record: SessionRecord) -> None:
    dbsession.add(record)
    dbsession.flush()
    # The row is written; keep the identity map from tracking it further so a
    # later view flush cannot issue a second, unversioned UPDATE.
    dbsession.expunge(record)


def update_data(
    dbsession: Session,
    token_hash: str,
    version: int,
    *,
    data: str,
    last_seen_at: datetime,
    expires_at: datetime,
    ip: str | None,
) -> None:
    """Versioned write: fails with SessionConflict if another request won the race."""
    result = dbsession.execute(
        update(SessionRecord)
        .where(SessionRecord.token_hash == token_hash, SessionRecord.version == version)
        .values(
            data=data,
            version=version + 1,
            last_seen_at=last_seen_at,
            expires_at=expires_at,
            ip=ip,
        )
        .execution_options(**_NO_SYNC)
    )
    if result.rowcount != 1:
        raise SessionConflict(f"session changed or ended concurrently (version {version})")


def touch(
    dbsession: Session,
    token_hash: str,
    *,
    last_seen_at: datetime,
    expires_at: datetime,
    ip: str | None,
) -> None:
    """Unversioned last-seen update: it cannot lose data, so it must not conflict
    with a concurrent data write. A row deleted meanwhile stays deleted."""
    dbsession.execute(
        update(SessionRecord)
        .where(SessionRecord.token_hash == token_hash)
        .values(last_seen_at=last_seen_at, expires_at=expires_at, ip=ip)
        .execution_options(**_NO_SYNC)
    )


def delete_by_hash(dbsession: Session, token_hashes: Iterable[str]) -> int:
    hashes = list(token_hashes)
    if not hashes:
        return 0
    result = dbsession.execute(
        delete(SessionRecord)
        .where(SessionRecord.token_hash.in_(hashes))
        .execution_options(**_NO_SYNC)
    )
    return result.rowcount


def delete_for_user(
    dbsession: Session, user_id: int, *, keep_public_id: str | None = None
) -> int:
    """End every session of a user, optionally sparing one (the current one)."""
    stmt = delete(SessionRecord).where(SessionRecord.user_id == user_id)
    if keep_public_id is not None:
        stmt = stmt.where(SessionRecord.public_id != keep_public_id)
    return dbsession.execute(stmt.execution_options(**_NO_SYNC)).rowcount


def delete_by_public_id(dbsession: Session, user_id: int, public_id: str) -> bool:
    """End one session, only if it belongs to ``user_id``."""
    result = dbsession.execute(
        delete(SessionRecord)
        .where(SessionRecord.user_id == user_id, SessionRecord.public_id == public_id)
        .execution_options(**_NO_SYNC)
    )
    return result.rowcount > 0


def trim_user_sessions(dbsession: Session, user_id: int, keep: int) -> int:
    """End a user's oldest sessions beyond the newest ``keep``."""
    stale = dbsession.scalars(
        select(SessionRecord.token_hash)
        .where(SessionRecord.user_id == user_id)
        .order_by(SessionRecord.created_at.desc(), SessionRecord.token_hash)
        .offset(keep)
    ).all()
    return delete_by_hash(dbsession, stale)


def list_for_user(dbsession: Session, user_id: int, now: datetime) -> list[SessionRecord]:
    return list(
        dbsession.scalars(
            select(SessionRecord)
            .where(SessionRecord.user_id == user_id, SessionRecord.expires_at > now)
            .order_by(SessionRecord.last_seen_at.desc())
        )
    )


def count_by_user(dbsession: Session, now: datetime) -> dict[int, int]:
    rows = dbsession.execute(
        select(SessionRecord.user_id, func.count())
        .where(SessionRecord.user_id.is_not(None), SessionRecord.expires_at > now)
        .group_by(SessionRecord.user_id)
    )
    return {user_id: count for user_id, count in rows}


def delete_expired_batch(dbsession: Session, now: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` expired rows, found through the expiry index.

    Selecting the keys first and deleting by primary key keeps each statement
    short on every database (MySQL cannot LIMIT a DELETE with a subquery on the
    same table), so no batch holds its locks for long.
    """
    hashes = dbsession.scalars(
        select(SessionRecord.token_hash)
        .where(SessionRecord.expires_at <= now)
        .order_by(SessionRecord.expires_at)
        .limit(batch_size)
    ).all()
    return delete_by_hash(dbsession, hashes)
