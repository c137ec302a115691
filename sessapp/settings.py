"""Every sessapp setting, parsed once from INI strings into a frozen, typed object.

The rest of the code reads :class:`SessappSettings` (``request.registry.sessapp``),
never raw strings. Keys under the prefixes sessapp owns (``session.``, ``auth.``,
``sessapp.``) are checked against the known set, so a typo is a startup error that
names the key instead of a silently ignored line.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyramid.settings import asbool, aslist

from .sessions.settings import PREFIX as SESSION_PREFIX
from .sessions.settings import (
    SESSION_KEYS,
    SessionSettings,
    SettingsError,
    as_bool,
    as_int,
    as_optional_text,
    as_positive,
    as_text,
    parse_session_settings,
)

__all__ = ["SessappSettings", "SessionSettings", "SettingsError", "parse_settings"]

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "SESSAPP_DATABASE_URL"
# Names of where the secret is read, not secrets.
SECRET_ENV = "SESSAPP_SECRET"  # noqa: S105
SECRET_KEY = "sessapp.secret"  # noqa: S105
SECRET_MIN_BYTES = 32
OWNED_PREFIXES = ("session.", "auth.", "sessapp.", "mail.")
# Where the SMTP password is read; never in an INI file.
MAIL_PASSWORD_ENV = "SESSAPP_MAIL_PASSWORD"  # noqa: S105
MAIL_DELIVERIES = ("smtp", "console", "off")
MAIL_TLS_MODES = ("none", "starttls", "ssl")
# Where links point when sessapp.base_url is unset outside production: pserve
# development.ini's own address.
DEVELOPMENT_BASE_URL = "http://localhost:6543"
ENVIRONMENTS = ("development", "testing", "production")
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


@dataclass(frozen=True)
class AuthSettings:
    policies: tuple[str, ...] = ("session", "bearer")
    bcrypt_rounds: int = 12
    password_min_length: int = 12
    throttle_max_failures: int = 5
    # One IP may be an office or a carrier NAT: many people's typos, so far more
    # than one account's budget, yet still a wall for a spray over many names.
    throttle_ip_max_failures: int = 100
    throttle_window: int = 15 * 60
    api_token_max_days: int = 365
    # Refusals of requests without valid credentials kept as auth-event rows per
    # client IP per throttle window; beyond it they are only logged, so a client
    # cannot grow the table (and push real evidence off /admin) at will.
    refusals_stored_per_ip: int = 20
    # The passkey relying party: None means the host of sessapp.base_url.
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = "sessapp"
    # How long a proof of identity (sign-in, password, second factor) lets
    # sensitive actions through without asking again ("sudo mode"). Short, as
    # GitHub's and Django-sudo's are: long enough for a round of settings,
    # too short for a borrowed, unlocked laptop to be worth much.
    sudo_timeout: int = 15 * 60
    # Roles whose members must have a second factor before doing anything else.
    mfa_required_roles: tuple[str, ...] = ()
    email_required: bool = False
    # A reset or verification link is a credential lying in a mailbox: an hour is
    # enough to use it, and a dead link's page offers a new one.
    reset_timeout: int = 60 * 60


@dataclass(frozen=True)
class MailSettings:
    """How mail leaves: ``delivery`` is ``smtp``, ``console`` (logged) or ``off``
    (nothing is queued or sent). ``delivery`` None means the environment's
    default: ``smtp`` in production, ``console`` elsewhere."""

    delivery: str | None = None
    host: str | None = None
    port: int | None = None
    tls: str = "none"
    username: str | None = None
    sender: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def smtp_port(self) -> int:
        """The port asked for, else the usual one for the TLS mode."""
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.tls, 25)


# Without a configured secret, development and testing sign with this one: the
# same for every app in the process, different after every restart.
_PROCESS_SECRET = secrets.token_bytes(SECRET_MIN_BYTES)


@dataclass(frozen=True)
class Secret:
    """What ``sessapp.keys`` derives every signing and encryption key from.

    ``source`` says where it came from: ``environment`` (``SESSAPP_SECRET``),
    ``settings`` (``sessapp.secret`` in the INI) or ``generated`` (random, for
    this process only). The value never appears in a repr or an error.
    """

    value: bytes = field(repr=False)
    source: str = "generated"


@dataclass(frozen=True)
class SessappSettings:
    environment: str = "development"
    registration: bool = True
    csrf_cookie_name: str = "csrf_token"
    hsts: bool = False
    audit_retention_days: int = 90
    secret: Secret = field(default_factory=lambda: Secret(_PROCESS_SECRET))
    pgbouncer: bool = False
    session: SessionSettings = field(default_factory=SessionSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    # The site's public origin; every absolute link the app writes starts with it.
    base_url: str | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def mail_delivery(self) -> str:
        if self.mail.delivery is not None:
            return self.mail.delivery
        return "smtp" if self.is_production else "console"

    @property
    def public_url(self) -> str:
        """``sessapp.base_url`` without a trailing slash (development's own
        address when unset; production refuses to start without it)."""
        return (self.base_url or DEVELOPMENT_BASE_URL).rstrip("/")

    @property
    def mail_sender(self) -> str:
        return self.mail.sender or "sessapp <noreply@localhost>"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the public URL: what browsers send as
        the origin of a page of this site (WebAuthn's expected origin)."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def webauthn_rp_id(self) -> str:
        """The passkey relying party id: ``auth.webauthn.rp_id``, else the host
        of the public URL."""
        return self.auth.webauthn_rp_id or (urlsplit(self.public_url).hostname or "")


def _as_secret(key: str, value: str) -> bytes:
    """At least 32 bytes (UTF-8), as HMAC-SHA256 keys should be; never echoed."""
    data = str(value).strip().encode("utf-8")
    if len(data) < SECRET_MIN_BYTES:
        raise SettingsError(f"{key} must be at least {SECRET_MIN_BYTES} bytes, got {len(data)}")
    return data


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


def _as_base_url(key: str, value: str) -> str:
    """An http(s) origin, optionally with a path where the app is mounted; no
    query or fragment, since links are made by appending paths to it."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query \
            or parts.fragment or "@" in parts.netloc:
        raise SettingsError(f"{key} must be an http(s) origin such as https://app.example, "
                            f"got {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise SettingsError(f"{key} has a bad port: {value!r}") from None
    return text


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(key: str, value: str) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise SettingsError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
        return text
    return parse


def _as_port(key: str, value: str) -> int:
    port = as_int(key, value, minimum=1)
    if port > 65535:
        raise SettingsError(f"{key} must be a port number (1 to 65535), got {port}")
    return port


def _as_rp_id(key: str, value: str) -> str:
    """A host name (WebAuthn refuses IP addresses and ports here)."""
    text = str(value).strip().lower()
    if not text or not all(label and label.replace("-", "").isalnum() and label.isascii()
                           for label in text.split(".")):
        raise SettingsError(f"{key} must be a host name like app.example, got {value!r}")
    return text


def _min_password_length(key: str, value: str) -> int:
    # ASVS 6.2.1 / NIST SP 800-63B: never fewer than 8 characters.
    return as_int(key, value, minimum=8)


def _as_roles(key: str, value: str) -> tuple[str, ...]:
    return tuple(sorted(set(aslist(value, flatten=True))))


def _rounds(key: str, value: str) -> int:
    rounds = as_int(key, value, minimum=4)
    if rounds > 31:
        raise SettingsError(f"{key} must be between 4 and 31, got {rounds}")
    return rounds


# key -> (parser, where the typed value goes). The session.* keys are
# sessapp.sessions' own (SESSION_KEYS), parsed there by parse_session_settings.
Parser = Callable[[str, str], Any]
KNOWN_KEYS: dict[str, tuple[Parser, str]] = {
    "sessapp.environment": (_as_environment, "environment"),
    "sessapp.registration": (as_bool, "registration"),
    "sessapp.csrf_cookie_name": (as_text, "csrf_cookie_name"),
    "sessapp.hsts": (as_bool, "hsts"),
    "sessapp.audit_retention_days": (as_positive, "audit_retention_days"),
    "sessapp.pgbouncer": (as_bool, "pgbouncer"),
    "auth.policies": (_as_policies, "auth.policies"),
    "auth.bcrypt_rounds": (_rounds, "auth.bcrypt_rounds"),
    "auth.password_min_length": (_min_password_length, "auth.password_min_length"),
    "auth.throttle.max_failures": (as_positive, "auth.throttle_max_failures"),
    "auth.throttle.ip_max_failures": (as_positive, "auth.throttle_ip_max_failures"),
    "auth.throttle.window": (as_positive, "auth.throttle_window"),
    "auth.api_token_max_days": (as_positive, "auth.api_token_max_days"),
    SECRET_KEY: (_as_secret, "secret"),
    "auth.refusals_stored_per_ip": (as_int, "auth.refusals_stored_per_ip"),
    "auth.webauthn.rp_id": (_as_rp_id, "auth.webauthn_rp_id"),
    "auth.webauthn.rp_name": (as_text, "auth.webauthn_rp_name"),
    "auth.sudo_timeout": (as_positive, "auth.sudo_timeout"),
    "auth.mfa.required_roles": (_as_roles, "auth.mfa_required_roles"),
    "auth.email.required": (as_bool, "auth.email_required"),
    "auth.reset_timeout": (as_positive, "auth.reset_timeout"),
    "sessapp.base_url": (_as_base_url, "base_url"),
    "mail.delivery": (_choice(*MAIL_DELIVERIES), "mail.delivery"),
    "mail.host": (as_optional_text, "mail.host"),
    "mail.port": (_as_port, "mail.port"),
    "mail.tls": (_choice(*MAIL_TLS_MODES), "mail.tls"),
    "mail.username": (as_optional_text, "mail.username"),
    "mail.sender": (as_optional_text, "mail.sender"),
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


def _secret(typed: dict[str, Any], environ: Mapping[str, str]) -> Secret:
    """``SESSAPP_SECRET`` when set, else ``sessapp.secret``, else a random key for
    this process (which production refuses: see :func:`insecure_findings`)."""
    from_ini = typed.pop("secret", None)
    from_env = environ.get(SECRET_ENV, "")
    if from_env.strip():
        return Secret(_as_secret(SECRET_ENV, from_env), "environment")
    if from_ini is not None:
        return Secret(from_ini, "settings")
    return Secret(_PROCESS_SECRET, "generated")


def parse_settings(
    raw: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> SessappSettings:
    """Turn the INI's settings into :class:`SessappSettings` or raise SettingsError.

    Only keys under sessapp's own prefixes are looked at; every other key belongs
    to Pyramid or an add-on and is theirs to validate. The ``session.*`` keys are
    parsed by ``sessapp.sessions`` (one place); sessapp adds the strictness that
    package leaves to its host: an unknown ``session.*`` key is an error here.
    """
    typed: dict[str, Any] = {}
    for key in sorted(raw):
        if not key.startswith(OWNED_PREFIXES):
            continue
        if key.startswith(SESSION_PREFIX) and key in SESSION_KEYS:
            continue
        if key not in KNOWN_KEYS:
            raise SettingsError(f"unknown setting {key!r} (is it misspelt?)")
        parser, target = KNOWN_KEYS[key]
        typed[target] = parser(key, raw[key])

    secret = _secret(typed, os.environ if environ is None else environ)
    tree = _nest(typed)
    auth = AuthSettings(**tree.get("auth", {}))
    environ = os.environ if environ is None else environ
    mail = MailSettings(**tree.get("mail", {}),
                        password=environ.get(MAIL_PASSWORD_ENV) or None)
    top = {k: v for k, v in tree.items() if k not in {"auth", "secret", "mail"}}
    settings = SessappSettings(session=parse_session_settings(raw), auth=auth, secret=secret,
                               mail=mail, **top)
    _check_rp_id(settings)
    return settings


def _check_rp_id(settings: SessappSettings) -> None:
    """A browser accepts only an RP id that is the page's host or a suffix of it
    on a label boundary: any other would make every passkey ceremony fail."""
    host = (urlsplit(settings.public_url).hostname or "").lower()
    rp_id = settings.webauthn_rp_id
    if host != rp_id and not host.endswith("." + rp_id):
        raise SettingsError(f"auth.webauthn.rp_id {rp_id!r} is neither the host of "
                            f"sessapp.base_url ({host!r}) nor a domain it belongs to")


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
    if settings.secret.source == "generated":
        findings.append(
            f"{SECRET_ENV} is not set (at least {SECRET_MIN_BYTES} bytes, the same in every "
            "process): the random key made at start-up instead changes at every restart, "
            "refusing anonymous forms opened before it"
        )
    elif settings.secret.source == "settings":
        findings.append(
            f"{SECRET_KEY} is in the INI file: production takes it from {SECRET_ENV} "
            f"only (at least {SECRET_MIN_BYTES} bytes, the same in every process)"
        )
    findings.extend(missing_mail_settings(settings))
    return findings


def missing_mail_settings(settings: SessappSettings) -> list[str]:
    """What production needs to send mail that links back to the right site."""
    missing = []
    if settings.base_url is None:
        missing.append("sessapp.base_url is not set: mails need the site's public origin "
                       "(links never come from the request's Host)")
    if settings.mail_delivery == "smtp":
        for key, value in (("mail.host", settings.mail.host),
                           ("mail.sender", settings.mail.sender)):
            if value is None:
                missing.append(f"{key} is not set: mail.delivery = smtp needs it")
    return missing


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
