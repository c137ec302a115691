"""Every SQL statement about stored sessions, in one place.

The session object decides *what* to write; this module knows *how*. Writes are
plain UPDATE/DELETE statements by primary key so that a read-only request pays
nothing and a write pays one statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, inspect, select, text, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict

from ..models import SessionRecord, User, mark_changed, separate_reader
from .errors import SessionConflict

_NO_SYNC = {"synchronize_session": False}


_SESSIONS = SessionRecord.__table__
_USERS = User.__table__
# What the session object needs of its row: not the bookkeeping columns.
_SESSION_COLUMNS = ("token_hash", "public_id", "user_id", "data", "version",
                    "created_at", "last_seen_at")
# (attribute, column) of every mapped User column, in the query's order.
_USER_FIELDS = tuple((prop.key, prop.columns[0]) for prop in inspect(User).column_attrs)
_USER_FROM = len(_SESSION_COLUMNS)
_USER_ID_AT = _USER_FROM + [key for key, _ in _USER_FIELDS].index("id")

# A Core query, built once: constructing the statement and its cache key on
# every request cost more CPU than executing it, and loading ORM entities
# through a Session cost three times the query itself (measured by bench/).
_LOAD = (
    select(*(_SESSIONS.c[name] for name in _SESSION_COLUMNS),
           *(column.label(f"user__{key}") for key, column in _USER_FIELDS))
    .select_from(_SESSIONS.outerjoin(_USERS, _SESSIONS.c.user_id == _USERS.c.id))
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
# Locks the session row only (SQLite, which has no row locks, ignores it).
_LOAD_FOR_UPDATE = _LOAD.with_for_update(of=_SESSIONS)


def load(request: Any, token_hash: str, *,
         for_update: bool = False) -> tuple[Row[Any], User | None] | None:
    """The session's row (the columns the session object reads, by name) and its
    user, in ONE query.

    ``for_update`` (a request that may write the session): the row is read
    locked, inside the request's transaction, so concurrent writers of one
    session take turns and each reads what the previous one committed, instead
    of losing the version race and rerunning until ``retry.attempts`` runs out.
    The user is then part of ``request.dbsession``, so a view changing it
    writes in the request's transaction.

    Otherwise, where :func:`sessapp.models.separate_reader` allows it, the read
    runs on a connection of its own, outside the request's transaction, which a
    read-only request then never opens: one round trip on PostgreSQL, and no
    ORM work at all. The user is handed out detached (loaded, not new): adding
    it to ``request.dbsession`` later updates it rather than inserting it.
    """
    parameters = {"token_hash": token_hash}
    reader = None if for_update else separate_reader(request)
    if reader is not None:
        with reader.connect() as connection:
            row = connection.execute(_LOAD, parameters).first()
        return None if row is None else (row, _detached_user(row))
    dbsession = request.dbsession
    row = dbsession.execute(_LOAD_FOR_UPDATE if for_update else _LOAD, parameters).first()
    if row is None:
        return None
    user = _detached_user(row)
    if user is not None:
        known = dbsession.identity_map.get(inspect(user).identity_key)
        if known is None:
            dbsession.add(user)
        else:
            user = known
    return row, user


_USER_MANAGER = inspect(User).class_manager


def _detached_user(row: Row[Any]) -> User | None:
    """The User of ``row``, built as the ORM builds a loaded one (its state holds
    the values as committed, so nothing is dirty) but without a Session."""
    if row[_USER_ID_AT] is None:  # a session without a user (the outer join's NULLs)
        return None
    user = _USER_MANAGER.new_instance()
    values = instance_dict(user)
    for offset, (key, _column) in enumerate(_USER_FIELDS, start=_USER_FROM):
        values[key] = row[offset]
    make_transient_to_detached(user)
    return user


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


def delete_signed_in(dbsession: Session, *, except_public_id: str | None = None) -> int:
    """End every session that has a user, optionally sparing one (the caller's)."""
    stmt = delete(SessionRecord).where(SessionRecord.user_id.is_not(None))
    if except_public_id is not None:
        stmt = stmt.where(SessionRecord.public_id != except_public_id)
    return dbsession.execute(stmt.execution_options(**_NO_SYNC)).rowcount


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


# One statement per batch, in which the database finds the rows through the expiry
# index and deletes them itself: no keys travel to the client and back. Selecting
# 5,000 keys and deleting them by a 5,000-item IN list ran at about 10,000 rows/s
# with batches of 300 ms and more (measured by bench/ on all three databases).
_DELETE_EXPIRED = {
    # The row versions the subquery saw as expired, by their physical address (a
    # TID scan, no key look-ups). A row touched meanwhile has a new version with
    # another ctid, and the repeated expiry test holds for what is deleted.
    "postgresql": """
        DELETE FROM sessions
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM sessions WHERE expires_at <= :now
            ORDER BY expires_at LIMIT :batch_size))
        AND expires_at <= :now""",
    # MySQL and MariaDB limit a single-table DELETE themselves.
    "mysql": """
        DELETE FROM sessions WHERE expires_at <= :now
        ORDER BY expires_at LIMIT :batch_size""",
    "sqlite": """
        DELETE FROM sessions WHERE rowid IN (
            SELECT rowid FROM sessions WHERE expires_at <= :now
            ORDER BY expires_at LIMIT :batch_size)""",
}


def delete_expired_batch(dbsession: Session, now: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` expired rows, oldest first, found through the
    expiry index in one short statement, so no batch holds its locks for long."""
    dialect = dbsession.get_bind().dialect.name
    statement = _DELETE_EXPIRED.get("mysql" if dialect == "mariadb" else dialect)
    if statement is None:
        hashes = dbsession.scalars(
            select(SessionRecord.token_hash)
            .where(SessionRecord.expires_at <= now)
            .order_by(SessionRecord.expires_at)
            .limit(batch_size)
        ).all()
        return delete_by_hash(dbsession, hashes)
    result = dbsession.execute(text(statement), {"now": now, "batch_size": batch_size})
    mark_changed(dbsession)  # textual SQL: zope.sqlalchemy cannot see it is a write
    return result.rowcount
