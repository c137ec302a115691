"""Accounts: who can sign in, with which roles, and since when their sessions count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As entered (after NFKC); shown to people.
    username: Mapped[str] = mapped_column(String(150))
    # NFKC + casefold: what uniqueness and look-ups use.
    username_key: Mapped[str] = mapped_column(ExactString(600), unique=True)
    # SHA-256 of the UTS #39 confusable skeleton (accounts/usernames.py): no two
    # accounts may look alike. NULL only for rows the migration found already
    # looking like an older account, and for rows bulk-loaded outside sessapp.
    username_skeleton: Mapped[str | None] = mapped_column(String(64), unique=True,
                                                          nullable=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    # Space-separated role names, e.g. "admin".
    roles_text: Mapped[str] = mapped_column("roles", String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Sessions and tokens created before this instant are dead: password change,
    # "log out everywhere" and disabling move it forward.
    sessions_epoch: Mapped[datetime] = mapped_column(UTCDateTime)
    # How many passkeys the user has, kept by accounts/passkeys.py: whether a
    # passkey is a second factor is then known from this row alone, which the
    # session's one query already loaded.
    passkey_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # TOTP (accounts/totp.py): the shared secret, encrypted with a key derived
    # from sessapp.secret (never stored in clear); when it was turned on (NULL:
    # off); and the last time step accepted, so that no code works twice.
    # Loaded with the session in its one query: "has a second factor" costs nothing.
    totp_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # As normalized by email-validator (accounts/email_addresses.py); shown and
    # written to.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Lower-cased: one account per address, whatever the case it is typed in
    # (a byte-exact column, so MariaDB's collations cannot blur it further).
    email_key: Mapped[str | None] = mapped_column(ExactString(320), unique=True,
                                                  nullable=True)
    # When the owner proved the mailbox is theirs; None until then. Only a
    # verified address receives reset links and notices.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def roles(self) -> list[str]:
        return self.roles_text.split() if self.roles_text else []

    @roles.setter
    def roles(self, value: list[str]) -> None:
        self.roles_text = " ".join(sorted(set(value)))

    @property
    def verified_email(self) -> str | None:
        """The address mail may go to: the verified one, else None."""
        return self.email if self.email_verified_at is not None else None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"
