"""The stored form of an HTTP session ("session" alone means the HTTP session;
``request.dbsession`` is SQLAlchemy's)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class SessionRecord(Base):
    __tablename__ = "sessions"

    # SHA-256 of the cookie's token, hex: the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(ExactString(64), primary_key=True)
    # Names the session in pages and URLs; unrelated to the token.
    public_id: Mapped[str] = mapped_column(ExactString(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=True
    )
    data: Mapped[str] = mapped_column(Text, default="{}")
    # Bumped by every data write; a write that finds another version lost a race.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # min(last seen + idle, created + absolute) as of the last write: only for
    # sessapp-gc's index; loading re-checks with the current settings.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)

    def __repr__(self) -> str:
        return f"<SessionRecord {self.public_id} user={self.user_id}>"
