"""sessapp: server-side, SQL-backed session authentication for Pyramid."""

from __future__ import annotations

import sys
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from . import schema
from .settings import SettingsError


def make_app(settings: dict[str, Any], ini_path: str | None = None) -> Router:
    """The WSGI app; ``ini_path`` (the INI it was read from) tells ``/healthz``
    which migrations the schema must be at."""
    with Configurator(settings=settings) as config:
        config.registry["schema_heads"] = schema.expected_heads(ini_path)
        config.include(".settings")
        config.include(".templating")
        config.include(".clock")
        config.include(".models")
        config.include(".sessions")
        config.include(".security")
        config.include(".tweens")
        config.include(".routes")
        config.include(".notices")
        config.scan(".views")
        config.include(".request")
    return config.make_wsgi_app()


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The ``paste.app_factory``: a bad setting, or a database whose schema is
    missing or behind, stops startup with one clear line."""
    ini_path = global_config.get("__file__")
    try:
        app = make_app(settings, ini_path)
    except SettingsError as exc:
        sys.exit(f"sessapp: configuration error: {exc}")
    registry = app.registry
    trouble = schema.problem(registry["db_engine"], registry["schema_heads"], ini_path)
    if trouble is not None:
        sys.exit(f"sessapp: {trouble}")
    if registry.sessapp_settings.mail_delivery != "off":
        # Mail left waiting by an earlier run goes out now, not with the next one.
        registry.mail_dispatcher.start()
    return app
