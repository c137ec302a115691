"""sessapp's answer to ``sessapp.sessions``' identity hook: each session loads
with its ``users`` row, as a :class:`User`, in the session's one query.

Included by :mod:`sessapp.models`, so any app including sessapp's models (or
``sessapp.security``) gets sessapp's sessions with sessapp's users.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict

from .session_record import sessions_table
from .user import User

_USERS = User.__table__
# (attribute, column key) of every mapped User column: roles_text is "roles".
_USER_FIELDS = tuple((prop.key, prop.columns[0].key) for prop in inspect(User).column_attrs)
_USER_MANAGER = inspect(User).class_manager


def detached_user(columns: Mapping[str, Any]) -> User:
    """The User of a joined row, built as the ORM builds a loaded one (its state
    holds the values as committed, so nothing is dirty) but without a Session:
    loading it through a Session cost three times the query itself (bench/).
    Adding it to ``request.dbsession`` later updates it, never inserts it."""
    user = _USER_MANAGER.new_instance()
    values = instance_dict(user)
    for attribute, column in _USER_FIELDS:
        values[attribute] = columns[column]
    make_transient_to_detached(user)
    return user


def attach_user(user: User, dbsession: Session) -> User:
    """Read inside the request's transaction: the user becomes part of
    ``request.dbsession`` (the one already there, if it was loaded before), so a
    view's change to it commits with the request."""
    known = dbsession.identity_map.get(inspect(user).identity_key)
    if known is not None:
        return known
    dbsession.add(user)
    return user


def includeme(config: Any) -> None:
    config.include("sessapp.sessions")
    config.set_sessions_table(sessions_table)
    config.set_session_identity(table=_USERS, key=_USERS.c.id, build=detached_user,
                                attach=attach_user)
