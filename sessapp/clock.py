"""The time sessapp runs on: the sessions package's clock, re-exported so that
sessapp and ``sessapp.sessions`` move together when a test moves it."""

from .sessions.clock import IClock, MovableClock, SystemClock, get_clock, includeme

__all__ = ["IClock", "MovableClock", "SystemClock", "get_clock", "includeme"]
