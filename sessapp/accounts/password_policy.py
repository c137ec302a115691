"""Which new passwords are acceptable (OWASP ASVS 5.0 V6.2, NIST SP 800-63B).

Length is the rule that matters: at least ``auth.password_min_length`` (12 by
default), up to 1,024 bytes, any characters, no composition rules and no expiry.
On top, a password is refused when it is one of the 30,000 most common ones
(zxcvbn's list, shipped with the package and read offline), contains the
username or the site's name, or is otherwise predictable enough that zxcvbn
estimates fewer than 10^8 guesses (repeats, keyboard walks, a word plus a year).
Each refusal says which rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from ..i18n import ReadableError, _, ngettext
from .passwords import MAX_PASSWORD_BYTES
from .usernames import username_key

SITE_WORDS = ("sessapp",)
MIN_GUESSES_LOG10 = 8
# zxcvbn's matching grows faster than linearly; past this length a password is
# long enough that its estimate does not change the verdict. Not more: zxcvbn 4.5
# raises ValueError on a longer input (its default max_length is 72).
ESTIMATE_PREFIX = 72


class WeakPassword(ReadableError):
    """The message names the rule, fit to show the person choosing it."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


@dataclass(frozen=True)
class PasswordRules:
    """What a page shows of the policy before the form is sent, and what its
    strength hint checks as the user types: the same figures :meth:`check`
    enforces. The common-password list and zxcvbn's estimate stay on the
    server (too large to send); the hint says so."""

    min_length: int
    max_bytes: int
    site_words: tuple[str, ...]


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12

    def page_rules(self) -> PasswordRules:
        return PasswordRules(self.min_length, MAX_PASSWORD_BYTES, SITE_WORDS)

    def check(self, password: str, *, username: str = "") -> None:
        if len(password) < self.min_length:
            raise WeakPassword(ngettext("Use at least ${n} character for your password.",
                                        "Use at least ${n} characters for your password.",
                                        self.min_length))
        if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
            raise WeakPassword(_("Passwords are limited to ${n} bytes.",
                                 mapping={"n": MAX_PASSWORD_BYTES}))
        folded = password.casefold()
        if folded in common_passwords():
            raise WeakPassword(
                _("That is one of the most commonly used passwords; choose another."))
        if username and username_key(username) in folded:
            raise WeakPassword(_("Your password must not contain your username."))
        if any(word in folded for word in SITE_WORDS):
            raise WeakPassword(_("Your password must not contain the site's name."))
        estimate = zxcvbn(password[:ESTIMATE_PREFIX], user_inputs=[username, *SITE_WORDS])
        if estimate["guesses_log10"] < MIN_GUESSES_LOG10:
            raise WeakPassword(_(
                "That password is too easy to guess (a common word, name, repeat or "
                "sequence). A few unrelated words make a strong one."
            ))
