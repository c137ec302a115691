"""What a use case says when it refuses: a message fit to show the person, and,
where it matters, the form field it is about or how long to wait."""

from __future__ import annotations


class AccountError(ValueError):
    """A rule was broken; the message is fit to show the person who broke it."""

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
    message, so a form shows them all together rather than one per try. The
    first one is the exception's own message and field, for callers (the
    console scripts) that show a single line."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(" ".join(errors.values()), first)
        self.errors = dict(errors)


def form_errors(exc: AccountError) -> dict[str, str]:
    """Every field's message from a refusal: a :class:`FormErrors`' all, any
    other's own (under ``form`` when it names no field)."""
    if isinstance(exc, FormErrors):
        return dict(exc.errors)
    return {exc.field or "form": str(exc)}
