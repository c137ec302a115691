"""sessapp: server-side, SQL-backed session authentication for Pyramid."""

from __future__ import annotations

import sys
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from .settings import SettingsError


def make_app(settings: dict[str, Any]) -> Router:
    with Configurator(settings=settings) as config:
        config.include(".settings")
        config.include(".templating")
        config.include(".clock")
        config.include(".models")
        config.include(".sessions")
        config.include(".security")
        config.include(".tweens")
        config.include(".routes")
        config.scan(".views")
        config.include(".request")
    return config.make_wsgi_app()


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The ``paste.app_factory``: a bad setting stops startup with one clear line."""
    try:
        return make_app(settings)
    except SettingsError as exc:
        sys.exit(f"sessapp: configuration error: {exc}")
