"""The server-side session store: ``request.session`` backed by the ``sessions``
table, written inside the request's transaction.

Another Pyramid app can ``config.include("sessapp.sessions")``: it needs
``sqlalchemy.url`` and reads the ``session.*`` settings.
"""

from typing import Any

from .errors import SessionConflict, SessionDataError, SessionDataTooLarge
from .factory import SessionFactory
from .session import ServerSideSession

__all__ = [
    "ServerSideSession",
    "SessionConflict",
    "SessionDataError",
    "SessionDataTooLarge",
    "SessionFactory",
]


def includeme(config: Any) -> None:
    config.include("sessapp.settings")
    config.include("sessapp.clock")
    config.include("sessapp.models")
    config.set_session_factory(SessionFactory(config.registry.sessapp_settings.session))
