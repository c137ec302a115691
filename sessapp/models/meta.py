"""The declarative base, with a naming convention so every constraint has a stable
name that Alembic can address on every database."""

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# The column types the sessions table needs, shared by every sessapp table.
from ..sessions.schema import ExactString, UTCDateTime

__all__ = ["Base", "ExactString", "UTCDateTime", "parse_id"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys are signed 32-bit on PostgreSQL and MySQL.
MAX_INTEGER_ID = 2**31 - 1


def parse_id(value: Any) -> int | None:
    """An integer primary key from outside text (a URL segment), or None when it
    cannot name a row. Out-of-range numbers must be refused here: PostgreSQL and
    SQLite answer them with an error, not with "no such row", which would be a 500."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_INTEGER_ID else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
