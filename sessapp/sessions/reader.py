"""Where the one SELECT of a read-only request may run outside the request's
transaction, on the engine ``request.dbsession`` is bound to.

A signed-in read-only request is ONE statement and no write; on PostgreSQL it
also skips the BEGIN and ROLLBACK round trips (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

READ_COMMITTED = "READ COMMITTED"
REPEATABLE_READ = "REPEATABLE READ"


def reader_engine(engine: Engine) -> Engine:
    """On PostgreSQL the engine in autocommit (no BEGIN/ROLLBACK around the one
    SELECT), elsewhere the engine itself. Built once: it shares ``engine``'s pool."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


class SeparateReader:
    """Finds the request's engine once (from ``request.dbsession``'s bind) and
    hands out its reader where that is a safe stand-in for the transaction's
    first statement.

    Never once the request's transaction has begun: the read must see the
    transaction's own writes. Otherwise the read sees what the transaction's
    first statement would have seen, or something committed a moment later,
    which every later statement of the request sees anyway:

    - SQLite's driver sends no BEGIN before a SELECT, so it is the same read.
    - PostgreSQL at READ COMMITTED (its default) takes a snapshot per statement:
      the same read, in autocommit, minus the BEGIN and ROLLBACK round trips
      (and psycopg keeps the query prepared instead of clearing it at ROLLBACK).
    - MySQL/MariaDB at REPEATABLE READ (their default) or READ COMMITTED: the
      transaction's snapshot starts at its next read instead, a moment later.

    Never at SERIALIZABLE (or PostgreSQL's REPEATABLE READ), whose read tracking
    belongs to the transaction, nor before the first connection has told
    SQLAlchemy the isolation level. Writes stay exact either way: a session
    write is checked against the version this read saw.
    """

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._reader: Engine | None = None

    def engine(self, request: Any) -> Engine:
        """The engine ``request.dbsession`` is bound to (one per app, so kept)."""
        if self._engine is None:
            engine = request.dbsession.get_bind()
            self._reader = reader_engine(engine)
            self._engine = engine
        return self._engine

    def __call__(self, request: Any) -> Engine | None:
        """The reader for ``request``, or None: then read in its transaction."""
        dbsession = request.__dict__.get("dbsession")  # reified: present once used
        if dbsession is not None and dbsession.in_transaction():
            return None
        self.engine(request)
        reader = self._reader
        dialect = reader.dialect
        if dialect.name == "sqlite":
            return reader
        level = getattr(dialect, "default_isolation_level", None)
        if level == READ_COMMITTED or (level == REPEATABLE_READ and dialect.name != "postgresql"):
            return reader
        return None
