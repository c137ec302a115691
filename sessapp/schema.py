"""Whether the database's schema is the one this code needs.

An empty or outdated database otherwise starts fine and fails at the first
sign-in ("no such table"), which tells an operator nothing. ``main()`` checks
the Alembic revision once at start-up and refuses with the command to run;
``/healthz`` compares it on every call, so a deploy that forgot to migrate
shows up in the load balancer, not in users' error pages.
"""

from __future__ import annotations

import logging
from configparser import ConfigParser
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# Beside the package in a checkout, where sessapp-initdb finds them too.
DEFAULT_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def expected_heads(ini_path: str | None) -> frozenset[str] | None:
    """The newest revisions the code knows: from the INI's ``[alembic]``
    ``script_location`` when it names one, else the checkout's ``migrations/``;
    None when neither exists (nothing to compare with)."""
    location = None
    if ini_path:
        parser = ConfigParser(defaults={"here": str(Path(ini_path).resolve().parent)})
        parser.read(ini_path)
        if parser.has_option("alembic", "script_location"):
            location = parser.get("alembic", "script_location")
    if location is None or not Path(location).is_dir():
        location = str(DEFAULT_MIGRATIONS) if DEFAULT_MIGRATIONS.is_dir() else None
    if location is None:
        return None
    config = Config()
    config.set_main_option("script_location", location)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_heads(connection: Connection) -> frozenset[str]:
    """The revisions the database is at; empty for a database never migrated."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())


def stored_revisions(connection: Connection) -> frozenset[str]:
    """One plain query for ``/healthz`` (no Alembic context per call); raises
    SQLAlchemyError when the version table is missing."""
    return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def problem(engine: Engine, expected: frozenset[str] | None, ini_path: str | None) -> str | None:
    """One line saying what is wrong with the schema and what to run, or None
    when it is current, or cannot be known now (an unreachable database may come
    up later: ``/healthz`` says 503 until then)."""
    if expected is None:
        return None
    try:
        with engine.connect() as connection:
            current = current_heads(connection)
    except SQLAlchemyError as exc:
        log.warning("could not check the database schema at start-up: %s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return None
    command = f"sessapp-initdb {ini_path or 'INI'}"
    if not current:
        return f"the database has no sessapp schema yet; run: {command}"
    if current != expected:
        return (f"the database schema is at revision {', '.join(sorted(current))}, this code "
                f"needs {', '.join(sorted(expected))}; run: {command}")
    return None
