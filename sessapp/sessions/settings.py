"""The ``session.*`` settings, parsed once from INI strings into a frozen, typed
object, with errors that name the key.

Only the keys listed in :data:`SESSION_KEYS` are read; any other key, under
``session.`` or elsewhere, is left alone, because the host app may have keys of
its own there. A host that wants unknown ``session.*`` keys refused (sessapp
does) checks them against :data:`SESSION_KEYS` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool

PREFIX = "session."
SAMESITE_VALUES = {"lax": "Lax", "strict": "Strict", "none": "None"}
_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"}


class SettingsError(ConfigurationError):
    """A setting is unknown, malformed or unsafe for the environment."""


@dataclass(frozen=True)
class CookieSettings:
    """Flags shared by every cookie the app sets (session, CSRF, theme)."""

    secure: bool = False
    httponly: bool = True
    samesite: str = "Lax"
    path: str = "/"
    domain: str | None = None


@dataclass(frozen=True)
class SessionSettings:
    cookie_name: str = "session"
    cookie: CookieSettings = field(default_factory=CookieSettings)
    # NIST SP 800-63B AAL2: 30 minutes of inactivity, 12 hours in all.
    idle_timeout: int = 30 * 60
    absolute_timeout: int = 12 * 60 * 60
    touch_interval: int = 60
    max_size: int = 16 * 1024
    max_per_user: int = 10
    # Live sessions without a user that one client IP may hold (0: no limit).
    # Anonymous sessions exist only once a visitor stores something; a few
    # hundred visitors behind one office NAT doing that at once is already a
    # lot, and at most this many times ``max_size`` (16 KiB) is what one
    # address can make the server keep: 200 x 16 KiB = 3.2 MiB.
    anonymous_max_per_ip: int = 200


def as_int(key: str, value: Any, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{key} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{key} must be at least {minimum}, got {number}")
    return number


def as_positive(key: str, value: Any) -> int:
    return as_int(key, value, minimum=1)


def as_bool(key: str, value: Any) -> bool:
    """Stricter than ``pyramid.settings.asbool``, which reads any typo as false."""
    text = str(value).strip().lower()
    if text not in _BOOL_WORDS:
        raise SettingsError(f"{key} must be true or false, got {value!r}")
    return asbool(text)


def as_samesite(key: str, value: Any) -> str:
    try:
        return SAMESITE_VALUES[str(value).strip().lower()]
    except KeyError:
        raise SettingsError(f"{key} must be Lax, Strict or None, got {value!r}") from None


def as_text(key: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise SettingsError(f"{key} must not be empty")
    return text


def as_optional_text(key: str, value: Any) -> str | None:
    text = str(value).strip()
    return None if text.lower() in {"", "none"} else text


Parser = Callable[[str, Any], Any]
# key -> (parser, field of SessionSettings, or "cookie.<field>" of CookieSettings)
SESSION_KEYS: dict[str, tuple[Parser, str]] = {
    "session.cookie_name": (as_text, "cookie_name"),
    "session.secure": (as_bool, "cookie.secure"),
    "session.httponly": (as_bool, "cookie.httponly"),
    "session.samesite": (as_samesite, "cookie.samesite"),
    "session.path": (as_text, "cookie.path"),
    "session.domain": (as_optional_text, "cookie.domain"),
    "session.idle_timeout": (as_positive, "idle_timeout"),
    "session.absolute_timeout": (as_positive, "absolute_timeout"),
    "session.touch_interval": (as_int, "touch_interval"),
    "session.max_size": (as_positive, "max_size"),
    "session.max_per_user": (as_int, "max_per_user"),
    "session.anonymous_max_per_ip": (as_int, "anonymous_max_per_ip"),
}


def parse_session_settings(raw: Mapping[str, Any]) -> SessionSettings:
    """The known ``session.*`` keys of ``raw`` as :class:`SessionSettings`, or
    SettingsError naming the key; every other key is ignored."""
    session: dict[str, Any] = {}
    cookie: dict[str, Any] = {}
    for key in sorted(raw):
        if key not in SESSION_KEYS:
            continue
        parser, target = SESSION_KEYS[key]
        value = parser(key, raw[key])
        if target.startswith("cookie."):
            cookie[target.removeprefix("cookie.")] = value
        else:
            session[target] = value
    settings = SessionSettings(cookie=CookieSettings(**cookie), **session)
    _check_consistency(settings)
    return settings


def _check_consistency(settings: SessionSettings) -> None:
    if settings.idle_timeout > settings.absolute_timeout:
        raise SettingsError(
            "session.idle_timeout must not exceed session.absolute_timeout "
            f"({settings.idle_timeout} > {settings.absolute_timeout})"
        )
    if settings.touch_interval >= settings.idle_timeout:
        raise SettingsError(
            "session.touch_interval must be shorter than session.idle_timeout "
            f"({settings.touch_interval} >= {settings.idle_timeout})"
        )
    if settings.cookie.samesite == "None" and not settings.cookie.secure:
        raise SettingsError("session.samesite = None requires session.secure = true")
