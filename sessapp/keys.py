"""Keys derived from ``sessapp.secret``, one per purpose.

Everything the server signs or encrypts (anonymous CSRF cookies today; device
cookies, one-time links and TOTP secrets at rest as they come) takes its key
from here, never the secret itself: a key leaked or misused for one purpose
then tells nothing about another's, and a signature made for one purpose never
verifies for another. Derivation is HKDF-SHA256 (RFC 5869) with the purpose as
its ``info`` (``cryptography``'s implementation).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# HKDF's salt: fixed and public, it only separates sessapp's keys from any other
# use of the same secret.
SALT = b"sessapp key derivation v1"
KEY_BYTES = 32

# One label per purpose; a new use of the secret adds its own line.
CSRF_COOKIE = "anonymous csrf cookie"
DEVICE_COOKIE = "device cookie"
TOTP_SECRET = "totp secret at rest"  # noqa: S105 - a purpose label
RECOVERY_CODE = "recovery code hash"


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """RFC 5869's extract-then-expand with HMAC-SHA256 (``cryptography``'s HKDF)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def derive_key(secret: bytes, purpose: str, length: int = KEY_BYTES) -> bytes:
    """The key for ``purpose``: the same secret and purpose always give the same
    key; different purposes give keys unrelated to each other and to the secret."""
    if not secret:
        raise ValueError("an empty secret derives no key")
    return hkdf_sha256(secret, SALT, purpose.encode("utf-8"), length)


def sign(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of ``message`` (UTF-8) under ``key``."""
    return hmac.digest(key, message.encode("utf-8"), "sha256")
