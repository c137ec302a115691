"""One counted attempt (a failed login, a registration, a token creation).

Counted in the database, not in a process, so limits hold across every
``pserve`` process sharing it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class ThrottleHit(Base):
    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_lookup", "scope", "key", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What is limited: "login_account", "login_ip", "login_device", "reauth_session",
    # "register_ip", "api_token_user".
    scope: Mapped[str] = mapped_column(String(20))
    # The normalized username, the client IP or the user id.
    key: Mapped[str] = mapped_column(ExactString(600))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
