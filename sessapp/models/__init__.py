"""Database wiring: engine, session factory, ``request.dbsession`` and the models.

``request.dbsession`` is bound to the request's transaction (pyramid_tm), so
whatever a view or the HTTP session writes commits or rolls back as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import zope.sqlalchemy
from sqlalchemy import engine_from_config, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

from .api_token import ApiToken
from .auth_event import AuthEvent
from .meta import Base
from .session_record import SessionRecord
from .throttle_hit import ThrottleHit
from .user import User

__all__ = ["ApiToken", "AuthEvent", "Base", "SessionRecord", "ThrottleHit", "User"]

configure_mappers()

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes a second
    writer wait instead of failing at once; foreign keys make cascades real."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def get_engine(settings: Mapping[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    engine = engine_from_config(settings, prefix)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def get_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine)


def get_tm_session(
    session_factory: sessionmaker[Session], transaction_manager: Any, request: Any = None
) -> Session:
    """A SQLAlchemy session that joins ``transaction_manager``'s transaction."""
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def write_apart(registry: Any, rows: list[Any]) -> None:
    """Commit ``rows`` in a short transaction of their own, so they stay even if
    the request's transaction rolls back (traces of failed attempts)."""
    factory = registry["dbsession_factory"]
    with factory() as dbsession, dbsession.begin():
        dbsession.add_all(rows)


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    # Resolving the user at the start of every request would load the session on
    # pages that never need it (the public home page must stay at 0 SQL).
    settings["tm.annotate_user"] = False

    config.include("pyramid_tm")
    config.include("pyramid_retry")

    engine = get_engine(settings)
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["db_engine"] = engine

    def dbsession(request: Any) -> Session:
        # Outside pyramid_tm (e.g. in a script using the app) there is no
        # request transaction to join, so use the request's own manager anyway.
        return get_tm_session(session_factory, request.tm, request=request)

    config.add_request_method(dbsession, reify=True)
