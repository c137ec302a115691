"""What the link in a new-sign-in notice does: end the session it names,
without signing in (the reader may have lost the password to whoever signed
in). Only that session ends; the page then suggests a password reset."""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..models import User, session_store
from . import audit, one_time_links


def end_session_link(request: Any, token: Any) -> Any:
    """The live link and its user (without using it), or None."""
    return one_time_links.find(request.dbsession, one_time_links.END_SESSION, token,
                               get_clock(request.registry).now())


def end_session(request: Any, token: Any) -> User | None:
    """End the session the link names (if it still lives); None for a dead link."""
    found = end_session_link(request, token)
    if found is None:
        return None
    link, user = found
    if not one_time_links.spend(request.dbsession, link, get_clock(request.registry).now()):
        return None
    session_store.delete_by_public_id(request.dbsession, user.id, link.session_public_id)
    audit.record(request, "session_ended_from_notice", user=user,
                 session_public_id=link.session_public_id)
    return user
