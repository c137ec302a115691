"""The yardstick: one Pyramid view and nothing else, served by the same waitress
(same INI, same threads) as sessapp, so a ratio to it prices what sessapp adds."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.router import Router


def hello(request: Any) -> Response:
    return Response("Hello, world!", content_type="text/plain")


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """``use = call:bench.bare:main``; the sessapp settings of the copied INI are ignored."""
    with Configurator() as config:
        config.add_route("hello", "/")
        config.add_route("healthz", "/healthz")
        config.add_view(hello, route_name="hello")
        config.add_view(hello, route_name="healthz")
    return config.make_wsgi_app()
