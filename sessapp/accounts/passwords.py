"""Password hashing: bcrypt over a SHA-256 pre-hash.

bcrypt only reads 72 bytes and bcrypt 5 raises beyond them; pre-hashing to a
fixed 44-byte base64 string lets any password (64 emoji, 1,000 characters) count
in full. The base64 step keeps NUL bytes out, which bcrypt would truncate at.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import bcrypt

log = logging.getLogger(__name__)

# Longest password accepted at all, in UTF-8 bytes: well past any passphrase,
# short enough that hashing cannot be used to make the server do heavy work.
MAX_PASSWORD_BYTES = 1024


class PasswordTooLong(ValueError):
    pass


def _prehash(password: str) -> bytes:
    raw = password.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(f"passwords are limited to {MAX_PASSWORD_BYTES} bytes")
    return base64.b64encode(hashlib.sha256(raw).digest())


class PasswordHasher:
    """Hashes and checks passwords at a configured bcrypt cost.

    ``verify`` of a missing hash still runs one bcrypt check against a dummy
    hash, so an unknown user costs the same time as a wrong password.
    """

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash = self._bcrypt_hash(b"sessapp-dummy-password")

    def _bcrypt_hash(self, prehashed: bytes) -> str:
        return bcrypt.hashpw(prehashed, bcrypt.gensalt(rounds=self.rounds)).decode("ascii")

    def hash(self, password: str) -> str:
        return self._bcrypt_hash(_prehash(password))

    def verify(self, password: str, stored_hash: str | None) -> bool:
        """True when ``password`` matches; False for a wrong password, a missing
        user (``stored_hash`` None), an over-long input or a corrupt stored hash."""
        try:
            candidate = _prehash(password)
        except PasswordTooLong:
            candidate = b"x"
            stored_hash = None
        target = (stored_hash or self._dummy_hash).encode("ascii", "replace")
        try:
            matched = bcrypt.checkpw(candidate, target)
        except ValueError:
            log.error("a stored password hash is malformed; treating it as a mismatch")
            bcrypt.checkpw(candidate, self._dummy_hash.encode("ascii"))
            return False
        return matched and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with fewer rounds than configured."""
        try:
            return int(stored_hash.split("$")[2]) < self.rounds
        except (IndexError, ValueError):
            return True
