"""Usernames: 1-150 letters (any script), digits and ``@ . + - _``, unique
case-insensitively after NFKC normalization, and unique by their confusable
skeleton, so that ``\u0430dmin`` (a Cyrillic a, U+0430) cannot sit beside ``admin``.

The skeleton follows Unicode Technical Standard #39, section 4 (NFD, each
character replaced by its prototype from confusables.txt, NFD again), with one
deliberate strengthening: marks from the generic combining-diacritics blocks are
dropped. UTS #39 keeps them (``admiń`` and ``admin`` have different skeletons
there), but an acute or a dot above on one letter of a name is as easy to miss
as a Cyrillic letter, and the cost of a false match is only that a newcomer picks
another name. Script-specific marks (Indic vowel signs, Hebrew points) are kept:
they are letters' worth of meaning in their scripts. And since names are
compared by their key (NFKC, casefolded), each mapping is keyed again: some
prototypes are capitals (``0`` becomes ``O``) or compatibility characters.

The confusables data comes from the ``confusable_homoglyphs`` package, which
ships confusables.txt as a symmetric table (each pair under both characters) and
no skeleton function; ``_prototype`` recovers the direction. Sign-in never uses
the skeleton: it looks up the exact key, so a look-alike can never sign in as
the account it resembles.
"""

from __future__ import annotations

import hashlib
import unicodedata
from functools import lru_cache

from confusable_homoglyphs.confusables import confusables_data

from ..i18n import ReadableError, _

MAX_USERNAME_LENGTH = 150
_EXTRA = set("@.+-_")
# Combining Diacritical Marks, ... Extended, ... Supplement, ... for Symbols,
# Combining Half Marks.
_GENERIC_DIACRITICS = (
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
)
# Recovered prototypes are not always fixed points; a few rounds settle them.
_MAX_ROUNDS = 4


class InvalidUsername(ReadableError):
    pass


def normalize_username(raw: str) -> str:
    """The form shown to people: NFKC, validated. Raises InvalidUsername."""
    name = unicodedata.normalize("NFKC", raw or "")
    if not name:
        raise InvalidUsername(_("Enter a username."))
    if len(name) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(_("Usernames are at most ${n} characters.",
                                 mapping={"n": MAX_USERNAME_LENGTH}))
    for char in name:
        category = unicodedata.category(char)
        if not (category.startswith("L") or category.startswith("M") or category == "Nd"
                or char in _EXTRA):
            raise InvalidUsername(_(
                "Usernames may contain only letters, digits and @ . + - _ characters."
            ))
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


@lru_cache(maxsize=4096)
def _prototype(char: str) -> str:
    """The prototype confusables.txt gives ``char`` (``char`` itself if none).

    Sources in confusables.txt are single characters and each has one line, so a
    character listed with several partners, or with a multi-character partner
    only, is a prototype resp. a source. A pair of characters that list only each
    other cannot be told apart; both become the smaller one, which puts them in
    the same class, all uniqueness needs.
    """
    partners = [entry["c"] for entry in confusables_data.get(char, ())]
    if len(partners) != 1:
        return char
    other = partners[0]
    if len(other) > 1 or len(confusables_data.get(other, ())) > 1:
        return other
    return min(char, other)


def _without_generic_diacritics(text: str) -> str:
    return "".join(
        char for char in text
        if not any(low <= ord(char) <= high for low, high in _GENERIC_DIACRITICS)
    )


def confusable_skeleton(raw: str) -> str:
    """The UTS #39 skeleton of ``raw``'s key, generic diacritics removed: two
    names with the same skeleton look alike."""
    text = _without_generic_diacritics(unicodedata.normalize("NFD", username_key(raw)))
    for _round in range(_MAX_ROUNDS):
        # Keyed again: some prototypes are capitals (``0`` becomes ``O``) or
        # compatibility characters, and names are compared by their key.
        mapped = username_key("".join(_prototype(char) for char in text))
        mapped = _without_generic_diacritics(unicodedata.normalize("NFD", mapped))
        if mapped == text:
            break
        text = mapped
    return text


def username_skeleton(raw: str) -> str:
    """What ``users.username_skeleton`` stores: the skeleton's SHA-256, in hex.

    Hashed because a skeleton can be seven times longer than the name (a Hangul
    syllable decomposes into jamo, each with its prototype), longer than
    PostgreSQL or MariaDB can index uniquely.
    """
    return hashlib.sha256(confusable_skeleton(raw).encode("utf-8")).hexdigest()
