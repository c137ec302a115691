"""The host's database wiring, as the Pyramid cookiecutter sets it up: an engine
from ``sqlalchemy.url``, and ``request.dbsession`` joined to pyramid_tm's
transaction through ``zope.sqlalchemy.register``."""

from __future__ import annotations

from typing import Any

import zope.sqlalchemy
from sqlalchemy import Column, Integer, MetaData, String, Table, engine_from_config
from sqlalchemy.orm import Session, sessionmaker

from sessapp.sessions.schema import define_sessions_table

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("member_id", Integer, primary_key=True),
    Column("email", String(200), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
)

member_sessions = define_sessions_table(metadata, name="member_sessions",
                                        user_fk="members.member_id")


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")
    engine = engine_from_config(settings, "sqlalchemy.")
    session_factory = sessionmaker(bind=engine)
    config.registry["hostapp.engine"] = engine

    def dbsession(request: Any) -> Session:
        dbsession = session_factory(info={"request": request})
        zope.sqlalchemy.register(dbsession, transaction_manager=request.tm)
        return dbsession

    config.add_request_method(dbsession, reify=True)
