"""Every SQL statement about stored sessions, in one place, on the table the host
gave (see :mod:`sessapp.sessions.schema`).

The session object decides *what* to write; this module knows *how*. Writes are
plain Core UPDATE/DELETE statements by primary key so that a read-only request
pays nothing and a write pays one statement. The host's identity (its user row)
comes with the session row in the same statement, through the hook of
:class:`Identity`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import zope.sqlalchemy
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from .errors import SessionConflict
from .reader import SeparateReader

# What the session object needs of its row: not the bookkeeping columns.
SESSION_COLUMNS = ("token_hash", "public_id", "user_id", "data", "version",
                   "created_at", "last_seen_at", "authenticated_at")


@dataclass(frozen=True)
class Identity:
    """The host's answer to "who is this session's user?".

    ``table`` is joined on ``key`` = ``sessions.user_id``; ``build`` turns that
    row's columns (a mapping by column key) into the host's identity object.
    ``attach`` (optional) is called with that object and ``request.dbsession``
    when the read ran in the request's transaction, so an ORM host can make it
    part of that session (its changes then commit with the request); it returns
    the object to use.
    """

    table: Table
    key: ColumnElement[Any]
    build: Callable[[Mapping[str, Any]], Any]
    attach: Callable[[Any, Session], Any] | None = None


def _wrote(dbsession: Session) -> None:
    """Tell the request's transaction that ``dbsession`` wrote.

    Core statements on a table are invisible to zope.sqlalchemy's ORM events, so
    without this a transaction whose only write is one of ours ends in a
    rollback. The statement just run has joined ``dbsession`` to its transaction
    (zope.sqlalchemy's ``after_begin``), so marking it changed needs no manager.
    """
    zope.sqlalchemy.mark_changed(dbsession)


class SessionStore:
    """The session queries on one sessions table, and the ONE query that loads a
    session with its identity."""

    def __init__(self, table: Table, identity: Identity | None = None) -> None:
        self.table = table
        self.identity = identity
        self.reader = SeparateReader()
        # A Core query, built once: constructing the statement and its cache key
        # on every request cost more CPU than executing it, and loading ORM
        # entities through a Session cost three times the query itself
        # (measured by bench/).
        self._load, self._identity_names = self._build_load()
        self._key_at = (self._identity_names.index(identity.key.key)
                        if identity is not None else None)
        # Locks the session row only (SQLite, which has no row locks, ignores it).
        self._load_for_update = self._load.with_for_update(of=table)

    def _build_load(self) -> tuple[Select[Any], tuple[str, ...]]:
        sessions = self.table
        columns = [sessions.c[name] for name in SESSION_COLUMNS]
        if self.identity is None:
            statement = select(*columns)
            names: tuple[str, ...] = ()
        else:
            joined = self.identity.table
            names = tuple(column.key for column in joined.c)
            statement = select(
                *columns, *(column.label(f"identity__{column.key}") for column in joined.c)
            ).select_from(sessions.outerjoin(joined, sessions.c.user_id == self.identity.key))
        return statement.where(sessions.c.token_hash == bindparam("token_hash")), names

    def load(self, request: Any, token_hash: str, *,
             for_update: bool = False) -> tuple[Row[Any], Any] | None:
        """The session's row (the columns the session object reads, by name) and
        its identity (None without one), in ONE query.

        ``for_update`` (a request that may write the session): the row is read
        locked, inside the request's transaction, so concurrent writers of one
        session take turns and each reads what the previous one committed,
        instead of losing the version race and rerunning until
        ``retry.attempts`` runs out.

        Otherwise, where :class:`SeparateReader` allows it, the read runs on a
        connection of its own, outside the request's transaction, which a
        read-only request then never opens: one round trip on PostgreSQL.
        """
        parameters = {"token_hash": token_hash}
        reader = None if for_update else self.reader(request)
        if reader is not None:
            with reader.connect() as connection:
                row = connection.execute(self._load, parameters).first()
            return None if row is None else (row, self._build_identity(row))
        dbsession = request.dbsession
        statement = self._load_for_update if for_update else self._load
        row = dbsession.execute(statement, parameters).first()
        if row is None:
            return None
        identity = self._build_identity(row)
        if identity is not None and self.identity.attach is not None:
            identity = self.identity.attach(identity, dbsession)
        return row, identity

    def _build_identity(self, row: Row[Any]) -> Any:
        if self.identity is None or row.user_id is None:
            return None
        values = row[len(SESSION_COLUMNS):]
        if values[self._key_at] is None:  # the outer join found no row
            return None
        return self.identity.build(dict(zip(self._identity_names, values, strict=True)))

    def engine(self, request: Any) -> Any:
        """The engine the request's sessions live on."""
        return self.reader.engine(request)

    # -- writes -----------------------------------------------------------

    def insert(self, dbsession: Session, values: Mapping[str, Any]) -> None:
        dbsession.execute(insert(self.table).values(**values))
        _wrote(dbsession)

    def update_data(
        self,
        dbsession: Session,
        token_hash: str,
        version: int,
        *,
        data: str,
        last_seen_at: datetime,
        expires_at: datetime,
        ip: str | None,
        authenticated_at: datetime | None = None,
    ) -> None:
        """Versioned write: fails with SessionConflict if another request won the race."""
        c = self.table.c
        result = dbsession.execute(
            update(self.table)
            .where(c.token_hash == token_hash, c.version == version)
            .values(data=data, version=version + 1, last_seen_at=last_seen_at,
                    expires_at=expires_at, ip=ip, authenticated_at=authenticated_at)
        )
        _wrote(dbsession)
        if result.rowcount != 1:
            raise SessionConflict(f"session changed or ended concurrently (version {version})")

    def touch(
        self,
        dbsession: Session,
        token_hash: str,
        *,
        last_seen_at: datetime,
        expires_at: datetime,
        ip: str | None,
    ) -> None:
        """Unversioned last-seen update: it cannot lose data, so it must not
        conflict with a concurrent data write. A row deleted meanwhile stays deleted."""
        dbsession.execute(
            update(self.table)
            .where(self.table.c.token_hash == token_hash)
            .values(last_seen_at=last_seen_at, expires_at=expires_at, ip=ip)
        )
        _wrote(dbsession)

    def _delete(self, dbsession: Session, *where: ColumnElement[bool]) -> int:
        result = dbsession.execute(delete(self.table).where(*where))
        _wrote(dbsession)
        return result.rowcount

    def delete_by_hash(self, dbsession: Session, token_hashes: Iterable[str]) -> int:
        hashes = list(token_hashes)
        if not hashes:
            return 0
        return self._delete(dbsession, self.table.c.token_hash.in_(hashes))

    def delete_for_user(
        self, dbsession: Session, user_id: Any, *, keep_public_id: str | None = None
    ) -> int:
        """End every session of a user, optionally sparing one (the current one)."""
        c = self.table.c
        where = [c.user_id == user_id]
        if keep_public_id is not None:
            where.append(c.public_id != keep_public_id)
        return self._delete(dbsession, *where)

    def delete_signed_in(self, dbsession: Session, *,
                         except_public_id: str | None = None) -> int:
        """End every session that has a user, optionally sparing one (the caller's)."""
        c = self.table.c
        where = [c.user_id.is_not(None)]
        if except_public_id is not None:
            where.append(c.public_id != except_public_id)
        return self._delete(dbsession, *where)

    def delete_by_public_id(self, dbsession: Session, user_id: Any, public_id: str) -> bool:
        """End one session, only if it belongs to ``user_id``."""
        c = self.table.c
        return self._delete(dbsession, c.user_id == user_id, c.public_id == public_id) > 0

    def trim_user_sessions(self, dbsession: Session, user_id: Any, keep: int) -> int:
        """End a user's oldest sessions beyond the newest ``keep``."""
        c = self.table.c
        stale = dbsession.scalars(
            select(c.token_hash)
            .where(c.user_id == user_id)
            .order_by(c.created_at.desc(), c.token_hash)
            .offset(keep)
        ).all()
        return self.delete_by_hash(dbsession, stale)

    def trim_anonymous_sessions(self, dbsession: Session, ip: str, keep: int) -> int:
        """End the oldest sessions without a user last seen from ``ip``, beyond
        the newest ``keep``.

        One read through the (ip, user_id, created_at) index that stops after
        ``keep`` entries when there is nothing to end, then a delete by key.
        Race-tolerant rather than exact: requests from one address storing new
        sessions at the same instant may each miss the others' rows, so the
        bound can be passed by as many as are in flight at once, until the next
        new session trims them; two trims ending the same row both succeed."""
        c = self.table.c
        stale = dbsession.scalars(
            select(c.token_hash)
            .where(c.ip == ip, c.user_id.is_(None))
            .order_by(c.created_at.desc(), c.token_hash)
            .offset(keep)
            .limit(_TRIM_BATCH)
        ).all()
        return self.delete_by_hash(dbsession, stale)

    # -- reads for pages --------------------------------------------------

    def list_for_user(self, dbsession: Session, user_id: Any, now: datetime) -> list[Row[Any]]:
        c = self.table.c
        return list(dbsession.execute(
            select(self.table)
            .where(c.user_id == user_id, c.expires_at > now)
            .order_by(c.last_seen_at.desc())
        ))

    def count_by_user(self, dbsession: Session, now: datetime) -> dict[Any, int]:
        c = self.table.c
        rows = dbsession.execute(
            select(c.user_id, func.count())
            .where(c.user_id.is_not(None), c.expires_at > now)
            .group_by(c.user_id)
        )
        return {user_id: count for user_id, count in rows}

    # -- expiry -----------------------------------------------------------

    def delete_expired_batch(self, dbsession: Session, now: datetime, batch_size: int) -> int:
        """Delete up to ``batch_size`` expired rows, oldest first, found through the
        expiry index in one short statement, so no batch holds its locks for long."""
        dialect = dbsession.get_bind().dialect.name
        statement = _DELETE_EXPIRED.get("mysql" if dialect == "mariadb" else dialect)
        if statement is None:
            c = self.table.c
            hashes = dbsession.scalars(
                select(c.token_hash).where(c.expires_at <= now)
                .order_by(c.expires_at).limit(batch_size)
            ).all()
            return self.delete_by_hash(dbsession, hashes)
        name = dbsession.get_bind().dialect.identifier_preparer.format_table(self.table)
        result = dbsession.execute(text(statement.format(table=name)),
                                   {"now": now, "batch_size": batch_size})
        _wrote(dbsession)  # textual SQL: zope.sqlalchemy cannot see it is a write
        return result.rowcount


# The most of one address's excess anonymous sessions one new session ends: the
# excess is at most the requests that stored sessions at the same instant, and
# lowering the setting on a busy site must not make one request delete thousands.
_TRIM_BATCH = 100

# One statement per batch, in which the database finds the rows through the expiry
# index and deletes them itself: no keys travel to the client and back. Selecting
# 5,000 keys and deleting them by a 5,000-item IN list ran at about 10,000 rows/s
# with batches of 300 ms and more (measured by bench/ on all three databases).
_DELETE_EXPIRED = {
    # The row versions the subquery saw as expired, by their physical address (a
    # TID scan, no key look-ups). A row touched meanwhile has a new version with
    # another ctid, and the repeated expiry test holds for what is deleted.
    "postgresql": """
        DELETE FROM {table}
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM {table} WHERE expires_at <= :now
            ORDER BY expires_at LIMIT :batch_size))
        AND expires_at <= :now""",
    # MySQL and MariaDB limit a single-table DELETE themselves.
    "mysql": """
        DELETE FROM {table} WHERE expires_at <= :now
        ORDER BY expires_at LIMIT :batch_size""",
    "sqlite": """
        DELETE FROM {table} WHERE rowid IN (
            SELECT rowid FROM {table} WHERE expires_at <= :now
            ORDER BY expires_at LIMIT :batch_size)""",
}
