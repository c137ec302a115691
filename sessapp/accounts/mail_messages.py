"""Composing mail: a plain-text and an HTML part from one pair of templates,
in the language of the request that caused it, ready for the outbox.

Every message has the headers a mail client and a spam filter expect (Date,
a Message-ID made once and kept for every delivery attempt, and
``Auto-Submitted: auto-generated``, so no autoresponder answers it). Links
are built from ``sessapp.base_url`` alone, never from the request's ``Host``:
a request that lies about its host must not get a reset link pointing at the
liar (reset poisoning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from pyramid.renderers import render

from ..clock import get_clock
from ..i18n import translate
from ..models import OutboxMessage

TEXT_TEMPLATE = "sessapp:templates/mail/message.txt.jinja2"
HTML_TEMPLATE = "sessapp:templates/mail/message.html.jinja2"
SUBJECT_MAX = 300


@dataclass
class Mail:
    """What one message says, its strings already marked for translation
    (``sessapp.i18n._``); :func:`compose` translates and renders them."""

    subject: Any
    paragraphs: list[Any] = field(default_factory=list)
    # (label, absolute URL): the one thing the reader may do.
    action: tuple[Any, str] | None = None
    # A notice's "what, when, from where": shown as a small table.
    occurred_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None
    closing: Any = None


def absolute_url(request: Any, path: str) -> str:
    """``path`` on the configured public origin (``sessapp.base_url``)."""
    return request.registry.sessapp_settings.public_url + path


def _sender_domain(settings: Any) -> str:
    return urlsplit(settings.public_url).hostname or "localhost"


def compose(request: Any, recipient: str, username: str, mail: Mail) -> OutboxMessage:
    """The outbox row for ``mail`` to ``recipient`` (not yet added to any
    database session)."""
    settings = request.registry.sessapp_settings
    # The language of the request that caused the mail (CONTRACT: "Mails go
    # out in the language of the request that caused them").
    say = partial(translate, request)
    now = get_clock(request.registry).now()
    values = {
        "username": username,
        "paragraphs": [say(text) for text in mail.paragraphs],
        "action": None if mail.action is None else (say(mail.action[0]), mail.action[1]),
        "occurred_at": mail.occurred_at,
        "ip": mail.ip,
        "user_agent": mail.user_agent,
        "closing": None if mail.closing is None else say(mail.closing),
        "site": settings.public_url,
    }
    subject = say(mail.subject)[:SUBJECT_MAX]
    message = EmailMessage()
    message["From"] = settings.mail_sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now.replace(tzinfo=UTC))
    message_id = make_msgid(domain=_sender_domain(settings))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render(TEXT_TEMPLATE, values, request=request))
    message.add_alternative(render(HTML_TEMPLATE, values, request=request), subtype="html")
    # After the parts: setting content drops every Content-* header before it.
    message["Content-Language"] = request.localizer.locale_name
    return OutboxMessage(
        message_id=message_id, recipient=recipient, subject=subject,
        content=message.as_string(), created_at=now, next_attempt_at=now, attempts=0,
    )
