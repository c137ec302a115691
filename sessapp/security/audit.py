"""Auth events: one row each in ``auth_events``, in the request's transaction,
and one structured log record (no secrets: sessions appear by public id)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ..clock import get_clock
from ..models import AuthEvent

if TYPE_CHECKING:
    from pyramid.request import Request

log = logging.getLogger("sessapp.audit")

USERNAME_MAX = 150


def record(
    request: Request,
    event: str,
    *,
    user: Any = None,
    username: str | None = None,
    session_public_id: str | None = None,
) -> None:
    name = user.username if user is not None else (username or None)
    if name is not None:
        name = name[:USERNAME_MAX]
    agent = request.user_agent[:300] if request.user_agent else None
    entry = AuthEvent(
        occurred_at=get_clock(request.registry).now(),
        event=event,
        user_id=None if user is None else user.id,
        username=name,
        ip=request.client_addr,
        user_agent=agent,
        session_public_id=session_public_id,
    )
    request.dbsession.add(entry)
    # json.dumps escapes CR/LF, so a hostile username cannot forge a log line.
    log.info(json.dumps({
        "event": event,
        "user_id": entry.user_id,
        "username": name,
        "ip": entry.ip,
        "session": session_public_id,
    }, ensure_ascii=True))
