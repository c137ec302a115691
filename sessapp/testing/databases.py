"""Throwaway databases, one place for the tests (tests/conftest.py), the bench
and the load runner: where the PostgreSQL and MariaDB servers are (overridden
with SESSAPP_TEST_POSTGRESQL_URL / SESSAPP_TEST_MYSQL_URL), how a database is
created, migrated to head and dropped."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from sessapp.scripts.initdb import alembic_config

ROOT = Path(__file__).resolve().parents[2]  # the checkout: testing.ini, migrations/
TESTING_INI = str(ROOT / "testing.ini")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "SESSAPP_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("SESSAPP_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def upgrade(url: str) -> None:
    """Migrate to head without letting Alembic reconfigure the caller's logging."""
    config = alembic_config(TESTING_INI, url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def reachable(backend: str) -> bool:
    """Whether the server for ``backend`` answers (SQLite always does)."""
    if backend == "sqlite":
        return True
    engine = create_engine(SERVER_URLS[backend])
    try:
        with engine.connect():
            return True
    except Exception:  # any driver or connection failure means "not here"
        return False
    finally:
        engine.dispose()


def create_database(admin: Engine, backend: str, name: str) -> str:
    """Create database ``name`` on ``admin``'s server (an AUTOCOMMIT engine);
    returns its URL. MariaDB gets utf8mb4, so any Unicode name fits."""
    charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}{charset}"))
    return admin.url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin: Engine, backend: str, name: str) -> None:
    """Drop it, forcibly on PostgreSQL (a connection left open must not keep it)."""
    force = " WITH (FORCE)" if backend == "postgresql" else ""
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))


@contextmanager
def scratch_database(backend: str, label: str = "bench") -> Iterator[str]:
    """A migrated database of its own, dropped afterwards; yields its URL."""
    name = f"sessapp_{label}_{secrets.token_hex(4)}"
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sessapp-bench-") as folder:
            url = f"sqlite:///{Path(folder) / (name + '.sqlite')}"
            upgrade(url)
            yield url
        return
    admin = create_engine(make_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT")
    try:
        url = create_database(admin, backend, name)
        try:
            upgrade(url)
            yield url
        finally:
            drop_database(admin, backend, name)
    finally:
        admin.dispose()
