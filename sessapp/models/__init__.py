"""Database wiring: engine, session factory, ``request.dbsession`` and the models.

``request.dbsession`` is bound to the request's transaction (pyramid_tm), so
whatever a view or the HTTP session writes commits or rolls back as one.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import Any

import pyramid_tm
import zope.sqlalchemy
import zope.sqlalchemy.datamanager
from pyramid.settings import asbool
from sqlalchemy import engine_from_config, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

from .api_token import ApiToken
from .auth_event import AuthEvent
from .meta import Base
from .one_time_link import OneTimeLink
from .outbox_message import OutboxMessage
from .passkey import Passkey
from .recovery_code import RecoveryCode
from .session_record import SessionRecord, session_store
from .throttle_hit import ThrottleHit
from .user import User

__all__ = ["ApiToken", "AuthEvent", "Base", "OneTimeLink", "OutboxMessage", "Passkey",
           "RecoveryCode", "SessionRecord", "ThrottleHit", "User", "session_store"]

configure_mappers()

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Each connection's page cache (SQLite's default is 2 MiB), filled only as pages
# are read. The session indexes are keyed by random tokens, so deleting expired
# rows touches pages all over them: 5,000-row deletes from 200,000 sessions ran
# at 37,000-43,000 rows/s with 2 MiB and 50,000-52,000 with 32 MiB.
SQLITE_CACHE_KIB = 32_768


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes a second
    writer wait instead of failing at once; foreign keys make cascades real."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


# True when sqlalchemy.url points at PgBouncer in transaction pooling mode
# (checked, like every sessapp.* key, by sessapp.settings before any engine exists).
PGBOUNCER_SETTING = "sessapp.pgbouncer"


def _no_server_side_prepare(dbapi_connection: Any, _record: Any) -> None:
    """psycopg prepares a statement on the server from its 5th run on a connection
    and later runs it by name; behind a transaction pooler the next transaction
    lands on another server connection, where that name does not exist (error
    26000). ``None`` keeps every statement unnamed, which any pooler forwards."""
    dbapi_connection.prepare_threshold = None


# Every engine this process made, so a forked child can let go of the pooled
# connections it inherited (see _after_fork_in_child).
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A pre-fork server (``egg:sessapp#gunicorn``) loads the app, and with it
    the engine and the connection the schema check used, before it forks its
    workers. Two processes talking over one database socket interleave their
    protocol messages, so each child forgets the pool it inherited, without
    closing those sockets (the parent still owns them), and opens its own."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def close_every_engine() -> None:
    """Close this process's pooled connections (before forking workers that
    will never use them)."""
    for engine in list(_ENGINES):
        engine.dispose()


def get_engine(settings: Mapping[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    engine = engine_from_config(settings, prefix)
    _ENGINES.add(engine)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if engine.dialect.driver == "psycopg" and asbool(settings.get(PGBOUNCER_SETTING, False)):
        event.listen(engine, "connect", _no_server_side_prepare)
    return engine


TRANSACTION_MANAGER_KEY = "transaction_manager"


class _TransactionEvents:
    """zope.sqlalchemy's listeners, registered once on the sessionmaker.

    The public way, ``zope.sqlalchemy.register(dbsession, ...)`` on each
    request's session, adds seven event listeners to it. Registered once, each event
    hands over to zope.sqlalchemy's own handler for the transaction manager that
    :func:`get_tm_session` stored in the session's ``info``; sessions without
    one (:func:`write_apart`) are left alone, as before.
    """

    # Into zope.sqlalchemy's internals (ZopeTransactionEvents), kept because it
    # pays on each request that uses request.dbsession: a session with register()
    # costs 71 µs against 8 µs this way, and bench.inprocess's POST /session-data
    # on SQLite took 969 µs with register() against 915 µs (best of 3 runs).
    # tests/test_library_canaries.py fails if register() changes what it installs.
    EVENTS = ("after_begin", "after_attach", "after_flush", "after_bulk_update",
              "after_bulk_delete", "before_commit", "do_orm_execute")

    @staticmethod
    def _events(session: Session) -> Any:
        manager = session.info.get(TRANSACTION_MANAGER_KEY)
        if manager is None:
            return None
        return zope.sqlalchemy.datamanager.ZopeTransactionEvents(transaction_manager=manager)

    def after_begin(self, session: Session, transaction: Any, connection: Any) -> None:
        if events := self._events(session):
            events.after_begin(session, transaction, connection)

    def after_attach(self, session: Session, instance: Any) -> None:
        if events := self._events(session):
            events.after_attach(session, instance)

    def after_flush(self, session: Session, flush_context: Any) -> None:
        if events := self._events(session):
            events.after_flush(session, flush_context)

    def after_bulk_update(self, update_context: Any) -> None:
        if events := self._events(update_context.session):
            events.after_bulk_update(update_context)

    def after_bulk_delete(self, delete_context: Any) -> None:
        if events := self._events(delete_context.session):
            events.after_bulk_delete(delete_context)

    def before_commit(self, session: Session) -> None:
        if events := self._events(session):
            events.before_commit(session)

    def do_orm_execute(self, execute_state: Any) -> None:
        if events := self._events(execute_state.session):
            events.do_orm_execute(execute_state)


def get_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine)
    listeners = _TransactionEvents()
    for name in _TransactionEvents.EVENTS:
        event.listen(factory, name, getattr(listeners, name))
    return factory


def get_tm_session(
    session_factory: sessionmaker[Session], transaction_manager: Any, request: Any = None
) -> Session:
    """A SQLAlchemy session that joins ``transaction_manager``'s transaction
    (the factory must come from :func:`get_session_factory`)."""
    return session_factory(
        info={"request": request, TRANSACTION_MANAGER_KEY: transaction_manager}
    )


def write_apart(registry: Any, rows: list[Any]) -> None:
    """Commit ``rows`` in a short transaction of their own, so they stay even if
    the request's transaction rolls back (traces of failed attempts)."""
    factory = registry["dbsession_factory"]
    with factory() as dbsession, dbsession.begin():
        dbsession.add_all(rows)


def includeme(config: Any) -> None:
    settings = config.get_settings()
    # The function, not its dotted name: pyramid_tm resolves a name on every request.
    settings["tm.manager_hook"] = pyramid_tm.explicit_manager
    # Resolving the user at the start of every request would load the session on
    # pages that never need it (the public home page must stay at 0 SQL).
    settings["tm.annotate_user"] = False

    config.include("pyramid_tm")
    config.include("pyramid_retry")
    config.include("sessapp.retries")

    engine = get_engine(settings)
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["db_engine"] = engine

    def dbsession(request: Any) -> Session:
        # Outside pyramid_tm (e.g. in a script using the app) there is no
        # request transaction to join, so use the request's own manager anyway.
        return get_tm_session(session_factory, request.tm, request=request)

    config.add_request_method(dbsession, reify=True)
    config.include(".session_identity")
