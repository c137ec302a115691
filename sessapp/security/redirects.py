"""Which ``next`` targets a login may redirect to: local paths only.

Browsers are lenient: they strip leading control characters and spaces, turn
backslashes into slashes and read ``//host`` as another site. So the check
refuses anything that any of those readings could send off-site, rather than
trying to clean it up.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a safe local path (``/...``), else None."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return None
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(char) < 0x21 or ord(char) == 0x7F or char == "\\" for char in target):
        return None
    # Decoded once and twice, it must still read as a plain local path.
    decoded = target
    for _ in range(2):
        decoded = unquote(decoded)
        if decoded.startswith(("//", "/\\")) or "\\" in decoded:
            return None
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
