"""Mail waiting to leave: the outbox.

A message is written in the transaction of the request that caused it, so a
request that rolls back leaves no mail behind, and one that commits cannot
lose its mail to an SMTP outage. Delivery (``accounts/mail_delivery.py``)
claims rows with a lease, so several processes never send one row at once,
and marks them sent; ``message_id`` stays the same on every attempt, so a
resend after a crash is recognisable as the same message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, ExactString, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(ExactString(200), unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    # The whole RFC 5322 message, headers and MIME parts, 7-bit clean.
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set by the process sending it, with the time it may hold the row until.
    claim: Mapped[str | None] = mapped_column(ExactString(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A permanent refusal (the server said 5xx): not tried again.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
