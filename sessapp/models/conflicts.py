"""Which database errors mean "another transaction got in the way": running the
same transaction again on fresh state succeeds."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# SQLSTATE class 40 (serialization failure, deadlock), MySQL deadlock / lock wait
# timeout, SQLite "database is locked".
_RETRYABLE_MYSQL_CODES = {1205, 1213}


def is_conflict(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate and str(sqlstate).startswith("40"):
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return "database is locked" in str(orig)
