"""The server-side session store: ``request.session`` backed by a ``sessions``
table, written inside the request's transaction.

Another Pyramid app includes it alone; it imports nothing else of sessapp.
What the host provides:

- ``request.dbsession``: a reified SQLAlchemy session joined to the request's
  transaction by pyramid_tm and zope.sqlalchemy (as the Pyramid cookiecutter sets
  it up). Its engine is the one the sessions are read from and written to.
- the ``sessions`` table on its own metadata, from
  :func:`~sessapp.sessions.schema.define_sessions_table` (``user_fk`` names the
  host's user key, if any), created by the host (``create_all`` or Alembic), and
  given with ``config.set_sessions_table(table)``.
- optionally, what to load as the identity with the session, in the same
  statement: ``config.set_session_identity(table=users, key=users.c.id,
  build=callable)``; ``build(columns)`` turns the joined row (a mapping by column
  key) into the host's identity object, ``request.session.identity``. Without
  it the session loads alone and ``identity`` is None.
- the ``session.*`` settings it wants (see :mod:`.settings`); other keys are
  left to the host.

A view signs someone in with ``request.session.rotate(user_id=..., identity=...)``
and out with ``request.session.invalidate()``. ``request.session.mark_authenticated()``
records a proof of identity (a sign-in, a re-entered password) in the row's
``authenticated_at``, and ``authenticated_within(seconds)`` asks how recent the
last one is ("sudo mode"), at no extra query. The time comes from the
:class:`~.clock.IClock` utility (a :class:`~.clock.SystemClock` unless the host
or a test registered another).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pyramid.exceptions import ConfigurationError
from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session

from .errors import SessionConflict, SessionDataError, SessionDataTooLarge
from .factory import SessionFactory
from .session import ServerSideSession
from .settings import SessionSettings, parse_session_settings
from .store import Identity, SessionStore

__all__ = [
    "Identity",
    "ServerSideSession",
    "SessionConflict",
    "SessionDataError",
    "SessionDataTooLarge",
    "SessionFactory",
    "SessionSettings",
    "SessionStore",
]

# After the default order (0), so both directives have run, whatever the order
# of the host's calls.
_BUILD_ORDER = 10
_TABLE = "sessapp.sessions:table"
_IDENTITY = "sessapp.sessions:identity"


def set_sessions_table(config: Any, table: Table) -> None:
    """The table sessions are stored in (from ``define_sessions_table``)."""
    config.action(_TABLE, lambda: config.registry.__setitem__(_TABLE, table))


def set_session_identity(
    config: Any,
    table: Table,
    key: ColumnElement[Any],
    build: Callable[[Mapping[str, Any]], Any],
    attach: Callable[[Any, Session], Any] | None = None,
) -> None:
    """Load a row of ``table`` (where ``key`` = the session's ``user_id``) with
    each session, in the same statement, and make it the session's ``identity``
    through ``build``. See :class:`~.store.Identity` for ``attach``."""
    identity = Identity(table=table, key=key, build=config.maybe_dotted(build),
                        attach=config.maybe_dotted(attach))
    config.action(_IDENTITY, lambda: config.registry.__setitem__(_IDENTITY, identity))


def get_session_store(registry: Any) -> SessionStore:
    """The store the app's session factory uses (after the configuration commit)."""
    return registry[SessionStore.__name__]


def includeme(config: Any) -> None:
    config.include(".clock")
    config.add_directive("set_sessions_table", set_sessions_table)
    config.add_directive("set_session_identity", set_session_identity)
    factory = SessionFactory(parse_session_settings(config.get_settings()))
    config.set_session_factory(factory)
    registry = config.registry

    def build_store() -> None:
        table = registry.get(_TABLE)
        if table is None:
            raise ConfigurationError(
                "sessapp.sessions needs its table: call config.set_sessions_table("
                "define_sessions_table(metadata, ...)) in the app's configuration"
            )
        # Built once, with its query: the table and the hook are known now.
        factory.store = SessionStore(table, registry.get(_IDENTITY))
        registry[SessionStore.__name__] = factory.store

    config.action("sessapp.sessions:store", build_store, order=_BUILD_ORDER)
