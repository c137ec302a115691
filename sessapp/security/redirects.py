"""Which ``next`` targets a login may redirect to: local paths only, and in a
form that can travel in a ``Location`` header.

Browsers are lenient: they strip leading control characters and spaces, turn
backslashes into slashes and read ``//host`` as another site. So the check
refuses anything that any of those readings could send off-site, rather than
trying to clean it up.

The target is checked, and made ASCII, before the view returns: a sign-in
commits its new session row before the server writes the headers, so a target
that the server could not encode would end in a 500 after the commit, with no
cookie sent and a session row left behind.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

MAX_NEXT_LENGTH = 2000
# A ``%`` not followed by two hex digits: malformed, so no reading of it is safe.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Printable ASCII stays as it is (``%`` included, so escapes are kept, not doubled).
_ASCII_KEPT = "".join(chr(code) for code in range(0x21, 0x7F))


def _unreadable(text: str) -> bool:
    """Backslashes, control and format characters, spaces and other separators,
    unassigned or private-use characters: browsers read some of them as a way
    off-site, and none belongs in a link a person followed."""
    return any(char == "\\" or not char.isprintable() or char == " " for char in text)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a safe local path (``/...``), else None.

    The path is returned ASCII-only: other characters are percent-encoded as
    UTF-8, the form a browser sends them in anyway.
    """
    if not target or len(target) > MAX_NEXT_LENGTH:
        return None
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if _unreadable(target) or _BAD_ESCAPE.search(target):
        return None
    try:
        target.encode("utf-8")  # a lone surrogate cannot be sent anywhere
        # Decoded once and twice, it must still read as a plain local path.
        decoded = target
        for _ in range(2):
            decoded = unquote(decoded, errors="strict")
            # An encoded space is a fine path character; the rest is not.
            if decoded.startswith(("//", "/\\")) or _unreadable(decoded.replace(" ", "")):
                return None
    except UnicodeError:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return quote(target, safe=_ASCII_KEPT)
