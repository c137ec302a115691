"""TOTP (RFC 6238, with ``pyotp``): the secret, its encryption at rest, and
checking a code exactly once.

The secret is encrypted with AES-GCM under a key derived from ``sessapp.secret``
(:mod:`sessapp.keys`), with the user's id as associated data: a stolen database
alone yields no secret, and a ciphertext copied onto another user's row does
not decrypt. The secret never leaves this module in clear except to be shown
once, on the enrolment page.

A code is accepted for the current 30-second step or one step either side
(clock drift), and only for a step later than the last one accepted. The step
is claimed with a conditional UPDATE (``... WHERE totp_last_step < :step``), so
two requests with the same code, in any processes, cannot both succeed.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from datetime import UTC, datetime

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import or_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import keys
from ..models import User

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "sessapp"
_VERSION = "v1:"
_NONCE_BYTES = 12
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def _aead(secret_key: bytes) -> AESGCM:
    return AESGCM(keys.derive_key(secret_key, keys.TOTP_SECRET))


def _associated(user_id: int) -> bytes:
    return f"user:{user_id}".encode("ascii")


def encrypt(server_secret: bytes, user_id: int, secret: str) -> str:
    """``secret`` sealed for ``user_id``: text fit for the ``totp_secret`` column."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _aead(server_secret).encrypt(nonce, secret.encode("ascii"), _associated(user_id))
    return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def decrypt(server_secret: bytes, user_id: int, stored: str | None) -> str | None:
    """The clear secret, or None when ``stored`` is missing, malformed, or was
    sealed for another user or under another ``sessapp.secret``."""
    if not stored or not stored.startswith(_VERSION):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_VERSION):].encode("ascii"))
        clear = _aead(server_secret).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                             _associated(user_id))
    except (InvalidTag, ValueError, UnicodeError):
        return None
    return clear.decode("ascii")


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str, title: str = "TOTP QR code") -> str:
    """The QR code of ``uri`` as inline SVG markup (no image file, no script);
    ``title`` is what a screen reader says of it."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                 title=title)


def normalise_code(code: str) -> str | None:
    """Six ASCII digits (spaces ignored), or None when it cannot be a TOTP code."""
    text = "".join(code.split())
    return text if _CODE.fullmatch(text) else None


def step_at(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step within the drift window whose code is ``code``, or None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time, whichever matches.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def claim_step(dbsession: Session, user: User, step: int) -> bool:
    """Record ``step`` as used if no later or equal step was: True when this
    request is the one that claimed it (one row changed)."""
    result = dbsession.execute(
        update(User)
        .where(User.id == user.id,
               or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def check_code(dbsession: Session, server_secret: bytes, user: User, code: str,
               now: datetime, secret: str | None = None) -> bool:
    """Whether ``code`` is a current, unused code of ``user``'s TOTP (or of
    ``secret``, during enrolment); a right code is used up by this call."""
    normal = normalise_code(code)
    if normal is None:
        return False
    if secret is None:
        if user.totp_enabled_at is None:
            return False
        secret = decrypt(server_secret, user.id, user.totp_secret)
        if secret is None:
            return False
    step = matching_step(secret, normal, now)
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    return claim_step(dbsession, user, step)
