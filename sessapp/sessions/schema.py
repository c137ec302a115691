"""The ``sessions`` table, defined on the host's metadata, and the column types
it needs to behave the same on SQLite, PostgreSQL and MySQL/MariaDB.

The package defines no metadata of its own: :func:`define_sessions_table` puts
the table on the host's (so its Alembic sees it, under its naming convention),
and the host says which column, if any, ``user_id`` refers to.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

# Naive UTC everywhere: SQLite has no time zones, and MySQL's DATETIME would drop
# the microseconds that idle-expiry and epoch comparisons rely on.
UTCDateTime = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def ExactString(length: int) -> String:
    """A string compared byte for byte everywhere. MySQL's default collations
    are case- and accent-insensitive, which would let 'jose' match 'josé' and a
    token or id match another that differs only in case."""
    return String(length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def define_sessions_table(
    metadata: MetaData,
    *,
    name: str = "sessions",
    user_fk: str | None = None,
    user_id_type: TypeEngine | type[TypeEngine] = Integer,
) -> Table:
    """The sessions table on ``metadata``.

    ``user_fk`` ("users.id") makes ``user_id`` a foreign key that deletes a user's
    sessions with the user; without it ``user_id`` is a plain column.
    """
    user_id_args = [ForeignKey(user_fk, ondelete="CASCADE")] if user_fk else []
    return Table(
        name,
        metadata,
        # SHA-256 of the cookie's token, hex: the token itself is never stored.
        Column("token_hash", ExactString(64), primary_key=True),
        # Names the session in pages and URLs; unrelated to the token.
        Column("public_id", ExactString(32), unique=True, nullable=False),
        Column("user_id", user_id_type, *user_id_args, index=True, nullable=True),
        Column("data", Text, default="{}", nullable=False),
        # Bumped by every data write; a write that finds another version lost a race.
        Column("version", Integer, default=1, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("last_seen_at", UTCDateTime, nullable=False),
        # min(last seen + idle, created + absolute) as of the last write: only for
        # the expiry sweep's index; loading re-checks with the current settings.
        Column("expires_at", UTCDateTime, index=True, nullable=False),
        # The last proof of identity (sign-in, password, second factor) given in
        # this session: sensitive actions need a recent one ("sudo mode"). It
        # rides on the row the request reads anyway, so checking it costs nothing.
        Column("authenticated_at", UTCDateTime, nullable=True),
        Column("ip", String(45), nullable=True),
        Column("user_agent", String(300), nullable=True),
        # An address's anonymous sessions, oldest first, found without reading
        # anyone else's: what ``session.anonymous_max_per_ip`` trims. (A
        # partial index on anonymous rows would be smaller, but MariaDB has
        # none; ``user_id IS NULL`` is a range of this index on all three.)
        Index(f"ix_{name}_ip_user_id_created_at", "ip", "user_id", "created_at"),
    )
