"""Alembic environment: the URL comes from the INI's [app:main] (or
SESSAPP_DATABASE_URL), or a caller hands over a connection directly."""

from logging.config import fileConfig

from alembic import context
from pyramid.paster import get_appsettings
from sqlalchemy import create_engine, pool

from sessapp.models.meta import Base
from sessapp.settings import apply_database_url

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url():
    url = config.attributes.get("sqlalchemy.url")
    if url:
        return url
    settings = dict(get_appsettings(config.config_file_name))
    apply_database_url(settings)
    return settings["sqlalchemy.url"]


def _configure(**kwargs):
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline():
    _configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # A plain engine: not the app's, whose SQLite foreign-key pragma would make a
    # batch table rebuild cascade-delete child rows.
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
