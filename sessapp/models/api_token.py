"""Bearer tokens for scripts: shown once, stored as a hash, limited to scopes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(ExactString(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Space-separated permission names the token may use, e.g. "read write".
    scopes_text: Mapped[str] = mapped_column("scopes", String(100))

    @property
    def scopes(self) -> list[str]:
        return self.scopes_text.split()

    @scopes.setter
    def scopes(self, value: list[str]) -> None:
        self.scopes_text = " ".join(value)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
