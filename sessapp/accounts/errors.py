"""What a use case says when it refuses: a message fit to show the person, and,
where it matters, the form field it is about or how long to wait."""

from __future__ import annotations

from ..i18n import ReadableError, english


class AccountError(ReadableError):
    """A rule was broken; the message is fit to show the person who broke it:
    ``message`` in their language (a translation string), ``str()`` in English."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Throttled(AccountError):
    """Too many attempts: nothing was checked; try again in ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class NotFound(AccountError):
    """The thing named does not exist, or is not the caller's: the same answer
    for both, so ids of other people's things cannot be probed."""


class ProofRequired(AccountError):
    """A sensitive action came without a proof of identity (no current
    password): nothing was checked or counted; ask for the proof."""


class FormErrors(AccountError):
    """Several fields broke rules at once: ``errors`` maps each field to its
    message (translation strings, for pages), so a form shows them all together
    rather than one per try. The first one is the exception's own message and
    field; ``str()`` is every message in English, for callers (the console
    scripts, the JSON API) that show a single line."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(errors[first], first)
        self.errors = dict(errors)

    def __str__(self) -> str:
        return " ".join(english(message) for message in self.errors.values())


def form_errors(exc: AccountError) -> dict[str, str]:
    """Every field's message from a refusal, untranslated (a page prints each
    with ``{{ _(errors.field) }}``): a :class:`FormErrors`' all, any other's own
    (under ``form`` when it names no field)."""
    if isinstance(exc, FormErrors):
        return dict(exc.errors)
    return {exc.field or "form": exc.message}
