"""Putting mail in the outbox, inside the request's transaction.

A message joins the request's database transaction, so it exists if and only
if the change it tells of was committed; once the commit succeeded, the
delivery thread is woken to hand it to the SMTP server within moments. Mail
about a refused request (an account locked by failed sign-ins) is written
apart, like the failure's audit row, since that request may be rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid_retry import is_error_retryable
from sqlalchemy.exc import SQLAlchemyError

from ..models import OutboxMessage, write_apart

log = logging.getLogger("sessapp.mail")

_WAKE_REGISTERED = "_sessapp_outbox_wake_registered"


def enabled(request: Any) -> bool:
    """Whether mail is sent at all (``mail.delivery`` is not ``off``)."""
    return request.registry.sessapp_settings.mail_delivery != "off"


def wake(registry: Any) -> None:
    """Tell this process's delivery thread that mail may be waiting."""
    dispatcher = getattr(registry, "mail_dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()


def queue(request: Any, messages: list[OutboxMessage]) -> None:
    """Add ``messages`` to the request's transaction; delivery starts after it
    commits, and never if it does not."""
    if not messages:
        return
    if not enabled(request):
        for message in messages:
            log.info("mail.delivery is off: not sending %r to %s", message.subject,
                     message.recipient)
        return
    request.dbsession.add_all(messages)
    # On the request object, not its environ: a retried request is a new
    # object with a new transaction, but the same environ.
    if not getattr(request, _WAKE_REGISTERED, False):
        setattr(request, _WAKE_REGISTERED, True)
        registry = request.registry
        request.tm.get().addAfterCommitHook(
            lambda committed: committed and wake(registry))


def queue_apart(request: Any, messages: list[OutboxMessage]) -> None:
    """Store ``messages`` in a transaction of their own once the request has
    ended, whatever became of it, and wake delivery."""
    if not messages or not enabled(request):
        return

    def store(finished: Any) -> None:
        exception = getattr(finished, "exception", None)
        if exception is not None and is_error_retryable(finished, exception):
            return  # the attempt is rerun and queues its own mail
        try:
            write_apart(finished.registry, messages)
        except SQLAlchemyError as exc:
            log.error("could not queue mail: %s", type(exc).__name__)
            return
        wake(finished.registry)

    request.add_finished_callback(store)
