"""Passkeys (WebAuthn credentials): a public key per authenticator, named by
its owner, used as a second factor and for sign-in without a password.

Nothing here is secret: the private key never leaves the authenticator. The
credential id is stored as the browser sends it (base64url) and, for look-ups
on every database alike, as the SHA-256 of its bytes (ids may be 1023 bytes
long, too long for a unique index on MySQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class Passkey(Base):
    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 (hex) of the raw credential id: what an assertion is looked up by.
    credential_key: Mapped[str] = mapped_column(ExactString(64), unique=True)
    # The raw credential id, base64url (up to 1023 bytes: 1364 characters).
    credential_id: Mapped[str] = mapped_column(ExactString(1400))
    # The COSE-encoded public key the authenticator made.
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The authenticator's signature counter (unsigned 32-bit), 0 when it keeps none.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # WebAuthn's user handle (base64url): random per user, never the row id, and
    # what a discoverable credential hands back to name its account.
    user_handle: Mapped[str] = mapped_column(ExactString(100))
    # Space-separated hints the browser gave ("internal hybrid"): for allowCredentials.
    transports: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<Passkey {self.id} of user {self.user_id} {self.name!r}>"
