"""A view that fails on purpose, for the tests of what an unhandled error
looks like (``pyramid.includes = failing_view``)."""

from __future__ import annotations

from typing import Any

from pyramid.security import NO_PERMISSION_REQUIRED

MESSAGE = "deliberate failure for the error-page test"


def boom(request: Any) -> Any:
    raise RuntimeError(MESSAGE)


def includeme(config: Any) -> None:
    config.add_route("boom", "/boom")
    config.add_view(boom, route_name="boom", permission=NO_PERMISSION_REQUIRED)
    config.add_route("boom_api", "/api/boom")
    config.add_view(boom, route_name="boom_api", permission=NO_PERMISSION_REQUIRED)
