"""Opaque tokens: 256 bits from the OS CSPRNG, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed(token: str | None) -> bool:
    """Cheap shape check so garbage cookies never reach the database."""
    return token is not None and _TOKEN_SHAPE.fullmatch(token) is not None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_public_id() -> str:
    """Lower-case hex: safe in URLs and under any collation."""
    return secrets.token_hex(12)
