"""A throwaway, migrated database for one load run, and the users it starts with.

A temporary SQLite file, or a uniquely named database on the PostgreSQL /
MariaDB server (created and dropped through :mod:`sessapp.testing.databases`).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from typing import Any

from sessapp.testing.databases import SERVER_URLS, create_database, drop_database, upgrade
from sessapp.testing.load.constants import PASSWORD


class Database:
    """A throwaway, migrated database: ``with Database("sqlite") as db: db.url``.

    ``server_url`` names any database on the server that the user may connect
    to (PostgreSQL / MariaDB); a new one named ``sessapp_load_<random>`` is
    created beside it and dropped (forcibly, on PostgreSQL) at the end.
    ``serializable`` makes every transaction in it SERIALIZABLE (PostgreSQL).
    """

    def __init__(self, kind: str, *, server_url: str | None = None,
                 serializable: bool = False) -> None:
        if kind not in ("sqlite", "postgresql", "mysql"):
            raise ValueError(f"unknown database {kind!r}")
        self.kind = kind
        self.server_url = server_url or SERVER_URLS.get(kind)
        self.serializable = serializable
        self.name = f"sessapp_load_{secrets.token_hex(4)}"
        self.url = ""
        self._tmpdir: str | None = None
        self._engine: Any = None
        self._created = False

    def __enter__(self) -> Database:
        self.create()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()

    def _admin(self) -> Any:
        from sqlalchemy import create_engine, make_url

        return create_engine(make_url(self.server_url), isolation_level="AUTOCOMMIT",
                             connect_args=self._connect_args())

    def _connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10} if self.kind in ("postgresql", "mysql") else {}

    def create(self) -> str:
        from sqlalchemy import text

        if self.kind == "sqlite":
            self._tmpdir = tempfile.mkdtemp(prefix="sessapp-load-")
            self.url = f"sqlite:///{self._tmpdir}/{self.name}.sqlite"
        else:
            admin = self._admin()
            try:
                self.url = create_database(admin, self.kind, self.name)
                self._created = True
                if self.serializable:
                    with admin.connect() as connection:
                        connection.execute(text(
                            f"ALTER DATABASE {self.name} "
                            "SET default_transaction_isolation = 'serializable'"))
            finally:
                admin.dispose()
        upgrade(self.url)
        return self.url

    def engine(self) -> Any:
        """An engine for checks from outside the app (NullPool: nothing lingers)."""
        if self._engine is None:
            from sqlalchemy import create_engine, event
            from sqlalchemy.pool import NullPool

            from sessapp.models import _sqlite_pragmas

            self._engine = create_engine(self.url, poolclass=NullPool,
                                         connect_args=self._connect_args())
            if self.kind == "sqlite":
                event.listen(self._engine, "connect", _sqlite_pragmas)
        return self._engine

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine().connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def drop(self) -> None:

        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.kind == "sqlite":
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
            return
        if not self._created:
            return
        admin = self._admin()
        try:
            drop_database(admin, self.kind, self.name)
        finally:
            admin.dispose()


def server_problem(kind: str) -> str | None:
    """Why the database server for ``kind`` cannot be used, or None."""
    if kind == "sqlite":
        return None
    if kind not in SERVER_URLS:
        return "unknown database (use sqlite, postgresql or mysql)"
    from sqlalchemy import create_engine, text

    engine = create_engine(SERVER_URLS[kind], connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or connection failure
        return (f"server not reachable at {SERVER_URLS[kind]} ({type(exc).__name__}); "
                f"set SESSAPP_TEST_{kind.upper()}_URL or leave it out of --databases")
    finally:
        engine.dispose()
    return None


def create_users(db: Database, names: list[str]) -> None:
    """Create users with PASSWORD, as ``sessapp-user add`` would (bcrypt cost 4)."""
    import transaction

    from sessapp.accounts import users as accounts
    from sessapp.accounts.password_policy import PasswordPolicy
    from sessapp.accounts.passwords import PasswordHasher
    from sessapp.clock import SystemClock
    from sessapp.models import get_session_factory, get_tm_session

    hasher, policy, now = PasswordHasher(4), PasswordPolicy(12), SystemClock().now()
    factory = get_session_factory(db.engine())
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        dbsession = get_tm_session(factory, manager)
        for name in names:
            accounts.create_user(dbsession, hasher, policy, name, PASSWORD, now)
