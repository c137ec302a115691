"""The declarative base, with a naming convention so every constraint has a stable
name that Alembic can address on every database."""

from typing import Any

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Naive UTC everywhere: SQLite has no time zones, and MySQL's DATETIME would drop
# the microseconds that idle-expiry and epoch comparisons rely on.
UTCDateTime = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

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


def ExactString(length: int) -> String:
    """A string compared byte for byte everywhere. MySQL's default collations
    are case- and accent-insensitive, which would let 'jose' match 'josé' and a
    token or id match another that differs only in case."""
    return String(length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
