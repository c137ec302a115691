"""Keys derived from ``sessapp.secret``, one per purpose.

Whatever the server signs takes its key from here, never the secret itself, so
a signature made for one purpose never verifies for another. Derivation is
HKDF-SHA256 (RFC 5869) with the purpose as its ``info``.
"""

from __future__ import annotations

import hashlib
import hmac

SALT = b"sessapp key derivation v1"
KEY_BYTES = 32

# One label per purpose.
DEVICE_COOKIE = "device cookie"


def derive_key(secret: bytes, purpose: str) -> bytes:
    """The key for ``purpose``: stable for one secret, unrelated across purposes."""
    if not secret:
        raise ValueError("an empty secret derives no key")
    pseudorandom = hmac.new(SALT, secret, hashlib.sha256).digest()
    # One block of HKDF-Expand is all 32 bytes need.
    return hmac.new(pseudorandom, purpose.encode("utf-8") + b"\x01", hashlib.sha256).digest()


def sign(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of ``message`` (UTF-8) under ``key``."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
