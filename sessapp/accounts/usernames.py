"""Usernames: 1-150 letters (any script), digits and ``@ . + - _``, unique
case-insensitively after NFKC normalization."""

from __future__ import annotations

import unicodedata

MAX_USERNAME_LENGTH = 150
_EXTRA = set("@.+-_")


class InvalidUsername(ValueError):
    pass


def normalize_username(raw: str) -> str:
    """The form shown to people: NFKC, validated. Raises InvalidUsername."""
    name = unicodedata.normalize("NFKC", raw or "")
    if not name:
        raise InvalidUsername("Enter a username.")
    if len(name) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(f"Usernames are at most {MAX_USERNAME_LENGTH} characters.")
    for char in name:
        category = unicodedata.category(char)
        if not (category.startswith("L") or category.startswith("M") or category == "Nd"
                or char in _EXTRA):
            raise InvalidUsername(
                "Usernames may contain only letters, digits and @ . + - _ characters."
            )
    return name


def username_key(raw: str) -> str:
    """The form compared for uniqueness and look-ups. Never raises: an invalid
    name simply matches nobody.

    A NUL becomes U+FFFD: PostgreSQL refuses NUL in any text parameter, so a
    typed NUL would turn a failed login into a server error. No valid name
    contains either character, so the key still matches nobody.
    """
    name = (raw or "").replace("\x00", "\ufffd")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
