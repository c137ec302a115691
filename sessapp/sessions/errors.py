"""Errors the session raises, and which of them pyramid_retry may rerun."""

from pyramid_retry import mark_error_retryable


class SessionDataError(ValueError):
    """A value cannot be stored in the session (not JSON, or too large)."""


class SessionDataTooLarge(SessionDataError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"session data would be {size} bytes; the limit is {limit}")
        self.size = size
        self.limit = limit


class SessionConflict(Exception):
    """Another request changed this session since it was loaded.

    Retryable: the whole request reruns on fresh state, so neither change is lost.
    """


mark_error_retryable(SessionConflict)
