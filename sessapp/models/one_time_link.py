"""Links mailed to people: verify an address, reset a password, undo an
address change, end a session from a sign-in notice.

Only the SHA-256 of a link's token is stored; a link works once
(``used_at``), for one purpose, until ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class OneTimeLink(Base):
    __tablename__ = "one_time_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(ExactString(64), unique=True)
    # "verify", "reset", "undo_email", "end_session".
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The address a verify link confirms, or the one an undo link restores.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # The session an end-session link ends (its public id).
    session_public_id: Mapped[str | None] = mapped_column(ExactString(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
