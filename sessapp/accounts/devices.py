"""Device cookies: a browser that has signed in to an account keeps its own
failure budget there, so a stranger's guessing cannot lock the owner out
(OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

The cookie names the account (its username key) and a random nonce, signed with
HMAC-SHA256 under a key derived from ``sessapp.secret``; nothing about it is
stored but the throttle hits counted against its nonce. A new one is given at
every successful sign-in. It is read only when signing in, never on ordinary
requests, so the signed-in read stays one SQL statement. A cookie that is
missing, altered, signed under another secret or made for another account is
simply absent: that client shares the account's lockable budget.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import Any

from .. import keys
from .usernames import username_key

COOKIE_NAME = "device"
PRODUCTION_COOKIE_NAME = "__Host-device"
MAX_AGE = 365 * 24 * 60 * 60
VERSION = "d1"
VALUE_MAX = 1024


def cookie_name(settings: Any) -> str:
    """``__Host-device`` in production (Secure, Path=/, no Domain, which the
    production settings already require), ``device`` elsewhere."""
    return PRODUCTION_COOKIE_NAME if settings.is_production else COOKIE_NAME


def signing_key(settings: Any) -> bytes:
    """The device-cookie key, derived from ``sessapp.secret``."""
    return keys.derive_key(settings.secret.value, keys.DEVICE_COOKIE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, account: str, nonce: str) -> str:
    """The cookie value for ``account`` (a username key) and ``nonce``."""
    body = f"{VERSION}.{_b64(account.encode('utf-8'))}.{nonce}"
    return f"{body}.{_b64(keys.sign(key, body))}"


def decode(key: bytes, value: str) -> tuple[str, str] | None:
    """``(account, nonce)`` from a genuine cookie value, else None."""
    if len(value) > VALUE_MAX:
        return None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[2]:
        return None
    body, signature = value.rpartition(".")[0], parts[3]
    try:
        genuine = hmac.compare_digest(_unb64(signature), keys.sign(key, body))
        account = _unb64(parts[1]).decode("utf-8") if genuine else ""
    except (binascii.Error, ValueError):
        return None
    return (account, parts[2]) if genuine else None


def trusted_device(request: Any, username: str) -> str | None:
    """The nonce of this browser's device cookie if it is genuine and names the
    account ``username`` is being signed in to; None otherwise."""
    settings = request.registry.sessapp_settings
    value = request.cookies.get(cookie_name(settings))
    if not value:
        return None
    decoded = decode(signing_key(settings), value)
    if decoded is None or decoded[0] != username_key(username):
        return None
    return decoded[1]


def issue(request: Any, user: Any) -> None:
    """Give the browser a new device cookie for ``user``. It refers to no row,
    so unlike the session cookie it needs no wait for the commit: the password
    was right whatever becomes of the transaction."""
    settings = request.registry.sessapp_settings
    value = encode(signing_key(settings), user.username_key, secrets.token_urlsafe(16))
    flags = settings.session.cookie

    def set_cookie(request: Any, response: Any) -> None:
        response.set_cookie(
            cookie_name(settings), value, max_age=MAX_AGE, path="/", domain=None,
            secure=flags.secure, httponly=True, samesite=flags.samesite,
        )

    request.add_response_callback(set_cookie)
