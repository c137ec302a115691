"""Recovery codes: one-time secrets that stand in for a lost second factor.

Only a keyed hash of each code is stored (accounts/recovery_codes.py); a code
is spent by setting ``used_at`` with a conditional UPDATE, so two requests
racing with the same code cannot both succeed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash",
                                       name="uq_recovery_codes_user_id_code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # HMAC-SHA256 (hex) of the normalised code under a key derived from sessapp.secret.
    code_hash: Mapped[str] = mapped_column(ExactString(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
