"""The stored form of an HTTP session ("session" alone means the HTTP session;
``request.dbsession`` is SQLAlchemy's).

The table's columns belong to ``sessapp.sessions``; sessapp puts the table on its
metadata with ``user_id`` pointing at its ``users``, maps it for its own pages,
and keeps :data:`session_store`, the sessions package's queries on that table.
"""

from __future__ import annotations

from ..sessions.schema import define_sessions_table
from ..sessions.store import SessionStore
from .meta import Base

sessions_table = define_sessions_table(Base.metadata, user_fk="users.id")


class SessionRecord(Base):
    __table__ = sessions_table

    def __repr__(self) -> str:
        return f"<SessionRecord {self.public_id} user={self.user_id}>"


session_store = SessionStore(sessions_table)
