"""A second Pyramid app that includes ``sessapp.sessions`` alone: its own
members table, its own settings, its own sign-in. It proves the sessions package
needs nothing of sessapp."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from sessapp.sessions.clock import IClock


def make_app(settings: dict[str, Any], *, clock: Any = None) -> Router:
    with Configurator(settings=settings) as config:
        if clock is not None:
            config.registry.registerUtility(clock, IClock)
        config.include(".models")
        config.include(".sessions")
        config.include(".views")
    return config.make_wsgi_app()
