"""The time sessions run on, as a registry utility so tests can move it.

Every timestamp is naive UTC: the databases store it that way (see
:mod:`sessapp.sessions.schema`). A host that registers its own :class:`IClock`
before including the package keeps it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from zope.interface import Interface, implementer


class IClock(Interface):
    def now() -> datetime:
        """The current time as a naive UTC datetime."""


@implementer(IClock)
class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


@implementer(IClock)
class MovableClock:
    """A clock that stands still until told to move (tests, benchmarks)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or SystemClock().now()

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def get_clock(registry: Any) -> IClock:
    return registry.getUtility(IClock)


def includeme(config: Any) -> None:
    """Register the system clock unless a clock (a test's) is already there."""
    if config.registry.queryUtility(IClock) is None:
        config.registry.registerUtility(SystemClock(), IClock)
