"""Every sessapp setting, parsed once from INI strings into a frozen, typed object.

The rest of the code reads :class:`SessappSettings` (``request.registry.sessapp``),
never raw strings. Keys under the prefixes sessapp owns (``session.``, ``auth.``,
``sessapp.``) are checked against the known set, so a typo is a startup error that
names the key instead of a silently ignored line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "SESSAPP_DATABASE_URL"
OWNED_PREFIXES = ("session.", "auth.", "sessapp.")
ENVIRONMENTS = ("development", "testing", "production")
SAMESITE_VALUES = {"lax": "Lax", "strict": "Strict", "none": "None"}
DEBUG_SETTINGS = (
    "pyramid.reload_templates",
    "pyramid.reload_assets",
    "pyramid.reload_all",
    "pyramid.debug_all",
    "pyramid.debug_authorization",
    "pyramid.debug_notfound",
    "pyramid.debug_routematch",
    "pyramid.debug_templates",
)


class SettingsError(ConfigurationError):
    """A setting is unknown, malformed or unsafe for the environment."""


@dataclass(frozen=True)
class CookieSettings:
    """Flags shared by every cookie sessapp sets (session, CSRF, theme)."""

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


@dataclass(frozen=True)
class AuthSettings:
    policies: tuple[str, ...] = ("session", "bearer")
    bcrypt_rounds: int = 12
    password_min_length: int = 12
    throttle_max_failures: int = 5
    throttle_window: int = 15 * 60
    api_token_max_days: int = 365


@dataclass(frozen=True)
class SessappSettings:
    environment: str = "development"
    registration: bool = True
    csrf_cookie_name: str = "csrf_token"
    hsts: bool = False
    audit_retention_days: int = 90
    pgbouncer: bool = False
    session: SessionSettings = field(default_factory=SessionSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def _as_int(key: str, value: str, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{key} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{key} must be at least {minimum}, got {number}")
    return number


def _as_bool(key: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text not in {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"}:
        raise SettingsError(f"{key} must be true or false, got {value!r}")
    return asbool(text)


def _as_samesite(key: str, value: str) -> str:
    try:
        return SAMESITE_VALUES[str(value).strip().lower()]
    except KeyError:
        raise SettingsError(f"{key} must be Lax, Strict or None, got {value!r}") from None


def _as_text(key: str, value: str) -> str:
    text = str(value).strip()
    if not text:
        raise SettingsError(f"{key} must not be empty")
    return text


def _as_optional_text(key: str, value: str) -> str | None:
    text = str(value).strip()
    return None if text.lower() in {"", "none"} else text


def _as_environment(key: str, value: str) -> str:
    text = str(value).strip().lower()
    if text not in ENVIRONMENTS:
        raise SettingsError(f"{key} must be one of {', '.join(ENVIRONMENTS)}, got {value!r}")
    return text


def _as_policies(key: str, value: str) -> tuple[str, ...]:
    names = tuple(aslist(value, flatten=True))
    if not names:
        raise SettingsError(f"{key} must name at least one security policy")
    if len(set(names)) != len(names):
        raise SettingsError(f"{key} names a policy twice: {value!r}")
    return names


def _positive(key: str, value: str) -> int:
    return _as_int(key, value, minimum=1)


def _min_password_length(key: str, value: str) -> int:
    # ASVS 6.2.1 / NIST SP 800-63B: never fewer than 8 characters.
    return _as_int(key, value, minimum=8)


def _rounds(key: str, value: str) -> int:
    rounds = _as_int(key, value, minimum=4)
    if rounds > 31:
        raise SettingsError(f"{key} must be between 4 and 31, got {rounds}")
    return rounds


# key -> (parser, where the typed value goes)
Parser = Callable[[str, str], Any]
KNOWN_KEYS: dict[str, tuple[Parser, str]] = {
    "sessapp.environment": (_as_environment, "environment"),
    "sessapp.registration": (_as_bool, "registration"),
    "sessapp.csrf_cookie_name": (_as_text, "csrf_cookie_name"),
    "sessapp.hsts": (_as_bool, "hsts"),
    "sessapp.audit_retention_days": (_positive, "audit_retention_days"),
    "sessapp.pgbouncer": (_as_bool, "pgbouncer"),
    "session.cookie_name": (_as_text, "session.cookie_name"),
    "session.secure": (_as_bool, "session.cookie.secure"),
    "session.httponly": (_as_bool, "session.cookie.httponly"),
    "session.samesite": (_as_samesite, "session.cookie.samesite"),
    "session.path": (_as_text, "session.cookie.path"),
    "session.domain": (_as_optional_text, "session.cookie.domain"),
    "session.idle_timeout": (_positive, "session.idle_timeout"),
    "session.absolute_timeout": (_positive, "session.absolute_timeout"),
    "session.touch_interval": (_as_int, "session.touch_interval"),
    "session.max_size": (_positive, "session.max_size"),
    "session.max_per_user": (_as_int, "session.max_per_user"),
    "auth.policies": (_as_policies, "auth.policies"),
    "auth.bcrypt_rounds": (_rounds, "auth.bcrypt_rounds"),
    "auth.password_min_length": (_min_password_length, "auth.password_min_length"),
    "auth.throttle.max_failures": (_positive, "auth.throttle_max_failures"),
    "auth.throttle.window": (_positive, "auth.throttle_window"),
    "auth.api_token_max_days": (_positive, "auth.api_token_max_days"),
}


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def parse_settings(raw: Mapping[str, Any]) -> SessappSettings:
    """Turn the INI's settings into :class:`SessappSettings` or raise SettingsError.

    Only keys under sessapp's own prefixes are looked at; every other key belongs
    to Pyramid or an add-on and is theirs to validate.
    """
    typed: dict[str, Any] = {}
    for key in sorted(raw):
        if not key.startswith(OWNED_PREFIXES):
            continue
        if key not in KNOWN_KEYS:
            raise SettingsError(f"unknown setting {key!r} (is it misspelt?)")
        parser, target = KNOWN_KEYS[key]
        typed[target] = parser(key, raw[key])

    tree = _nest(typed)
    session_tree = tree.get("session", {})
    cookie = CookieSettings(**session_tree.pop("cookie", {}))
    session = SessionSettings(cookie=cookie, **session_tree)
    auth = AuthSettings(**tree.get("auth", {}))
    top = {k: v for k, v in tree.items() if k not in {"session", "auth"}}
    settings = SessappSettings(session=session, auth=auth, **top)
    _check_consistency(settings)
    return settings


def _check_consistency(settings: SessappSettings) -> None:
    session = settings.session
    if session.idle_timeout > session.absolute_timeout:
        raise SettingsError(
            "session.idle_timeout must not exceed session.absolute_timeout "
            f"({session.idle_timeout} > {session.absolute_timeout})"
        )
    if session.touch_interval >= session.idle_timeout:
        raise SettingsError(
            "session.touch_interval must be shorter than session.idle_timeout "
            f"({session.touch_interval} >= {session.idle_timeout})"
        )
    if session.cookie.samesite == "None" and not session.cookie.secure:
        raise SettingsError("session.samesite = None requires session.secure = true")


def insecure_findings(settings: SessappSettings, raw: Mapping[str, Any]) -> list[str]:
    """What makes this configuration unfit for production, one sentence each."""
    findings = []
    session = settings.session
    cookie = session.cookie
    if not cookie.secure:
        findings.append("session.secure is off: the session cookie would travel over plain http")
    if not cookie.httponly:
        findings.append("session.httponly is off: scripts could read the session cookie")
    for name, label in ((session.cookie_name, "session.cookie_name"),
                        (settings.csrf_cookie_name, "sessapp.csrf_cookie_name")):
        if not name.startswith("__Host-"):
            findings.append(f"{label} {name!r} lacks the __Host- prefix")
    if cookie.domain is not None:
        findings.append("session.domain is set: a __Host- cookie must have no Domain")
    if cookie.path != "/":
        findings.append("session.path is not /: a __Host- cookie must have Path=/")
    includes = aslist(raw.get("pyramid.includes", ""), flatten=True)
    if "pyramid_debugtoolbar" in includes:
        findings.append("pyramid_debugtoolbar is included")
    for key in DEBUG_SETTINGS:
        if key in raw and asbool(raw[key]):
            findings.append(f"{key} is on")
    if not settings.hsts:
        findings.append("sessapp.hsts is off")
    return findings


def check_environment(settings: SessappSettings, raw: Mapping[str, Any]) -> None:
    """Refuse an insecure production configuration; warn about it elsewhere."""
    findings = insecure_findings(settings, raw)
    if settings.is_production:
        if findings:
            raise SettingsError("refusing to start in production: " + "; ".join(findings))
        url = str(raw.get("sqlalchemy.url", ""))
        if url.startswith("sqlite"):
            log.warning(
                "production on SQLite: fine for a single process only; "
                "use PostgreSQL (%s) to run several",
                DATABASE_URL_ENV,
            )
    elif settings.environment == "development" and findings:
        log.warning("insecure for production (fine on localhost): %s", "; ".join(findings))


def apply_database_url(raw: dict[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Let ``SESSAPP_DATABASE_URL`` override ``sqlalchemy.url``.

    PasteDeploy cannot read environment variables in INI files, so the override
    happens here, in code shared by ``main()``, the scripts and Alembic's env.py.
    """
    environ = os.environ if environ is None else environ
    url = environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        raw["sqlalchemy.url"] = url
    if not str(raw.get("sqlalchemy.url", "")).strip():
        raise SettingsError(f"sqlalchemy.url is not set (set it in the INI or {DATABASE_URL_ENV})")


def includeme(config: Any) -> None:
    """Parse the settings once and keep the typed object on the registry."""
    raw = config.get_settings()
    apply_database_url(raw)
    settings = parse_settings(raw)
    check_environment(settings, raw)
    config.registry.sessapp_settings = settings
