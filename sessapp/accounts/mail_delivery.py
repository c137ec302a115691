"""Handing the outbox to the SMTP server (or the log), at least once and, in
the normal case, exactly once, from any number of processes.

A pass (:func:`deliver_due`) claims due rows with a conditional UPDATE that
sets a random claim and a lease (rows another process holds under a live
lease are skipped; a claim counts only if the UPDATE changed the row, so two
processes never both own one), sends them, and marks each sent as soon as the
server accepted it. A process that dies between the server's "250 OK" and
that mark leaves a lease that runs out; the row is then sent again with the
same Message-ID, so the duplicate is recognisable. An unreachable server or a
temporary refusal (4xx) puts the rows back with a growing delay (30 s, 1 min,
2 min ... at most 1 h); a permanent refusal (5xx) marks the row failed.

:class:`MailDispatcher` is the thread in each app process that runs passes:
woken right after a request that queued mail commits, and again when a retry
is due or a minute has passed (mail other processes could not send).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..models import OutboxMessage

log = logging.getLogger("sessapp.mail")

BATCH = 20
LEASE = timedelta(minutes=5)
SMTP_TIMEOUT = 15
FIRST_RETRY = 30
LAST_RETRY = 3600
IDLE_POLL = 60.0
ERROR_MAX = 300


class TemporaryFailure(Exception):
    """The server could not take mail now: try again later."""


class PermanentFailure(Exception):
    """The server refused this message for good (5xx)."""


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failed attempt, doubling, at most an hour."""
    return timedelta(seconds=min(LAST_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1)))


class SmtpTransport:
    """One SMTP connection per pass, with the TLS mode and login configured."""

    def __init__(self, mail: Any, sender: str) -> None:
        self.mail, self.sender, self.connection = mail, sender, None

    def __enter__(self) -> SmtpTransport:
        mail = self.mail
        try:
            if mail.tls == "ssl":
                connection = smtplib.SMTP_SSL(mail.host, mail.smtp_port, timeout=SMTP_TIMEOUT,
                                              context=ssl.create_default_context())
            else:
                connection = smtplib.SMTP(mail.host, mail.smtp_port, timeout=SMTP_TIMEOUT)
                if mail.tls == "starttls":
                    connection.starttls(context=ssl.create_default_context())
            if mail.username:
                connection.login(mail.username, mail.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(_describe(exc)) from None
        self.connection = connection
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.connection.quit()
        except (OSError, smtplib.SMTPException):
            self.connection.close()

    def send(self, row: OutboxMessage) -> None:
        try:
            self.connection.sendmail(_envelope_sender(self.sender), [row.recipient],
                                     row.content)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentFailure(_describe(exc)) from None
            raise TemporaryFailure(_describe(exc)) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if exc.smtp_code >= 500:
                raise PermanentFailure(_describe(exc)) from None
            raise TemporaryFailure(_describe(exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(_describe(exc)) from None


def _envelope_sender(sender: str) -> str:
    return email.utils.parseaddr(sender)[1] or sender


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


class ConsoleTransport:
    """Development: each message in the log, its links ready to click."""

    def __enter__(self) -> ConsoleTransport:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def send(self, row: OutboxMessage) -> None:
        message = email.message_from_string(row.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        log.info("mail to %s (not sent: mail.delivery = console)\nSubject: %s\n\n%s",
                 row.recipient, message["Subject"], text.strip())


def transport_for(settings: Any) -> Any:
    """The transport ``mail.delivery`` names, or None for ``off``."""
    delivery = settings.mail_delivery
    if delivery == "smtp":
        return SmtpTransport(settings.mail, settings.mail_sender)
    if delivery == "console":
        return ConsoleTransport()
    return None


@dataclass
class PassResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    # When the earliest row still waiting becomes due, if any.
    next_due: datetime | None = None


def claim(session_factory: Any, now: datetime, *, ignore_schedule: bool = False,
          batch: int = BATCH) -> tuple[str, list[OutboxMessage]]:
    """Claim up to ``batch`` due rows for this pass: its claim and the rows."""
    token = secrets.token_hex(16)
    waiting = _waiting(now, ignore_schedule)
    with session_factory() as dbsession, dbsession.begin():
        ids = dbsession.scalars(select(OutboxMessage.id).where(*waiting)
                                .order_by(OutboxMessage.id).limit(batch)).all()
        if not ids or not take(dbsession, ids, token, now, ignore_schedule=ignore_schedule):
            return token, []
    with session_factory() as dbsession:
        rows = list(dbsession.scalars(select(OutboxMessage)
                                      .where(OutboxMessage.id.in_(ids),
                                             OutboxMessage.claim == token)
                                      .order_by(OutboxMessage.id)))
        dbsession.expunge_all()
    return token, rows


def _waiting(now: datetime, ignore_schedule: bool) -> list[Any]:
    free = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now)
    waiting = [OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None), free]
    if not ignore_schedule:
        waiting.append(OutboxMessage.next_attempt_at <= now)
    return waiting


def take(dbsession: Any, ids: list[int], token: str, now: datetime, *,
         ignore_schedule: bool = False) -> int:
    """Claim the rows of ``ids`` that are still free, in one conditional UPDATE:
    another process that read the same ids a moment ago changes none of the
    rows this one took (each row's condition is checked as it is written).
    How many rows are now this claim's."""
    return dbsession.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                    *_waiting(now, ignore_schedule))
        .values(claim=token, lease_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount


def _settle(session_factory: Any, row: OutboxMessage, token: str, **values: Any) -> None:
    with session_factory() as dbsession, dbsession.begin():
        dbsession.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.claim == token)
            .values(claim=None, lease_until=None, **values)
            .execution_options(synchronize_session=False))


def deliver_due(session_factory: Any, settings: Any, now: Callable[[], datetime], *,
                ignore_schedule: bool = False) -> PassResult:
    """Send what is due (everything waiting, with ``ignore_schedule``), batch
    after batch, until nothing due is left or the server fails."""
    result = PassResult()
    transport = transport_for(settings)
    if transport is None:
        return result
    while True:
        token, rows = claim(session_factory, now(), ignore_schedule=ignore_schedule)
        if not rows:
            break
        if not _send_batch(session_factory, transport, token, rows, now, result):
            break
    result.next_due = next_due(session_factory)
    return result


def _send_batch(session_factory: Any, transport: Any, token: str, rows: list[OutboxMessage],
                now: Callable[[], datetime], result: PassResult) -> bool:
    """Send one claimed batch; False when the server failed (the rest waits)."""
    pending = list(rows)
    try:
        with transport as connection:
            while pending:
                row = pending[0]
                try:
                    connection.send(row)
                except PermanentFailure as exc:
                    log.error("mail %s to %s refused for good: %s", row.message_id,
                              row.recipient, exc)
                    _settle(session_factory, row, token, failed_at=now(), last_error=str(exc))
                    result.failed += 1
                else:
                    _settle(session_factory, row, token, sent_at=now(), last_error=None)
                    result.sent += 1
                pending.pop(0)
    except TemporaryFailure as exc:
        log.warning("mail server unavailable, %d message(s) wait for a retry: %s",
                    len(pending), exc)
        for row in pending:
            _settle(session_factory, row, token, last_error=str(exc),
                    next_attempt_at=now() + retry_delay(row.attempts))
        result.retrying += len(pending)
        return False
    return True


def next_due(session_factory: Any) -> datetime | None:
    with session_factory() as dbsession:
        return dbsession.scalar(
            select(func.min(OutboxMessage.next_attempt_at))
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)))


def prune(dbsession: Any, cutoff: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` messages sent or refused before ``cutoff``
    (mail that still waits is never deleted)."""
    ids = dbsession.scalars(
        select(OutboxMessage.id)
        .where(or_(OutboxMessage.sent_at < cutoff, OutboxMessage.failed_at < cutoff))
        .order_by(OutboxMessage.id).limit(batch_size)).all()
    if not ids:
        return 0
    return dbsession.execute(
        delete(OutboxMessage).where(OutboxMessage.id.in_(ids))
        .execution_options(synchronize_session=False)).rowcount


class MailDispatcher:
    """The delivery thread of one app process (a daemon: it never holds up an
    exit; what it had claimed is sent again when its lease runs out)."""

    def __init__(self, registry: Any, now: Callable[[], datetime]) -> None:
        self.registry, self.now = registry, now
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.passes = 0

    def start(self) -> None:
        with self._lock:
            self._closed = False
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="sessapp-mail",
                                                daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """Run a pass now (starting the thread on first use)."""
        if self._closed:
            return
        self._wakeup.set()
        if self._thread is None or not self._thread.is_alive():
            self.start()

    def close(self) -> None:
        """Stop, and stay stopped until :meth:`start` (mail then waits in the
        outbox for another process or ``sessapp-mail``)."""
        self._closed = True
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; the next :meth:`wake` starts it again."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        settings = self.registry.sessapp_settings
        while not self._stopping.is_set():
            self._wakeup.clear()
            wait = IDLE_POLL
            try:
                result = deliver_due(self.registry["dbsession_factory"], settings, self.now)
                if result.next_due is not None:
                    wait = max(0.5, min(IDLE_POLL,
                                        (result.next_due - self.now()).total_seconds()))
            except SQLAlchemyError as exc:
                log.warning("mail delivery could not read the outbox: %s", type(exc).__name__)
            except Exception:  # the thread must outlive any one bad pass
                log.exception("mail delivery pass failed")
            self.passes += 1
            self._wakeup.wait(wait)
