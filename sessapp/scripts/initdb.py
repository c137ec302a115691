"""sessapp-initdb INI: bring the schema to the newest revision (idempotent)."""

from __future__ import annotations

import argparse
import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from pyramid.paster import get_appsettings, setup_logging

from ..settings import apply_database_url, parse_settings
from .common import ScriptError, run


def alembic_config(ini: str, url: str | None = None) -> Config:
    config = Config(ini)
    if url is not None:
        config.attributes["sqlalchemy.url"] = url
    return config


def upgrade(ini: str, url: str | None = None) -> None:
    command.upgrade(alembic_config(ini, url), "head")


def _body(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessapp-initdb", description=__doc__)
    parser.add_argument("config_uri", help="the INI file, e.g. development.ini")
    args = parser.parse_args(argv)
    if not os.path.exists(args.config_uri):
        raise ScriptError(f"no such configuration file: {args.config_uri}")
    setup_logging(args.config_uri)
    settings = dict(get_appsettings(args.config_uri))
    apply_database_url(settings)
    # The same check as the app's startup: a misspelt key fails the deploy here,
    # at its first step, instead of being ignored until pserve refuses it.
    parse_settings(settings)
    url = settings["sqlalchemy.url"]
    try:
        upgrade(args.config_uri, url)
    except CommandError as exc:
        # e.g. script_location not found from the current directory: one line,
        # like every other failure, not Alembic's traceback.
        raise ScriptError(f"migration failed: {exc}") from None
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    print(f"sessapp-initdb: database is at revision {revision}")
    return 0


def main(argv: list[str] | None = None) -> int:
    raise SystemExit(run(_body, argv))
