"""Jinja2 set-up and the filters that turn stored values into words people read,
in the reader's language (:mod:`sessapp.i18n`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel.dates import format_date, format_timedelta
from jinja2 import pass_context
from pyramid.i18n import TranslationString
from pyramid.interfaces import IRoutesMapper

from .i18n import _, translate

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
)
_SYSTEMS = (
    ("Windows NT", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
UNKNOWN_BROWSER = _("Unknown browser")


def describe_agent(user_agent: str | None) -> str:
    """'Firefox on Windows' from a User-Agent header, or 'Unknown browser' (a
    translation string: the template filter of the same name translates it)."""
    if not user_agent:
        return UNKNOWN_BROWSER
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return _("${browser} on ${system}", mapping={"browser": browser, "system": system})
    if browser:
        return browser
    if system:
        return _("A browser on ${system}", mapping={"system": system})
    return re.sub(r"[^\w ./-]", "", user_agent)[:40] or UNKNOWN_BROWSER


EVENT_NAMES = {
    "login_success": _("Signed in"),
    "login_failure": _("Failed sign-in"),
    "login_throttled": _("Sign-in refused (too many attempts)"),
    "reauth_failure": _("Wrong current password entered"),
    "account_locked": _("Sign-in locked for new browsers after too many wrong passwords"),
    "logout": _("Signed out"),
    "register": _("Account created"),
    "password_changed": _("Password changed"),
    "session_revoked": _("A session was ended"),
    "sessions_revoked_others": _("Every other session was ended"),
    "api_token_created": _("API token created"),
    "api_token_revoked": _("API token revoked"),
    "api_tokens_revoked_all": _("Every API token was revoked"),
    "csrf_failure": _("Form rejected (bad CSRF token)"),
    "forbidden": _("Access refused"),
    "admin_disable": _("Account disabled by an admin"),
    "admin_enable": _("Account enabled by an admin"),
    "admin_revoke_sessions": _("Sessions and API tokens ended by an admin"),
    "admin_revoke_everyone": _("Everyone's sessions ended by an admin"),
    "shell_user_added": _("Account created with sessapp-user"),
    "shell_password_set": _("Password set with sessapp-user"),
    "shell_disabled": _("Account disabled with sessapp-user"),
    "shell_enabled": _("Account enabled with sessapp-user"),
    "shell_sessions_revoked": _("Sessions and API tokens ended with sessapp-user"),
    "shell_unlocked": _("Sign-in lock lifted with sessapp-user"),
    "passkey_added": _("Passkey added"),
    "passkey_removed": _("Passkey removed"),
    "passkey_failure": _("A passkey's answer was refused"),
    "passkey_counter_regressed": _("Passkey refused: its signature counter went backwards"),
    "login_password_ok": _("Password accepted; second factor asked for"),
    "mfa_failure": _("Wrong second-factor code at sign-in"),
    "mfa_totp_enabled": _("Authenticator app turned on"),
    "mfa_totp_disabled": _("Authenticator app turned off"),
    "mfa_recovery_codes_regenerated": _("New recovery codes made"),
    "mfa_recovery_code_used": _("Recovery code used to sign in"),
    "admin_reset_mfa": _("Second factors removed by an admin"),
    "sudo_granted": _("Identity confirmed for a sensitive action"),
    "sudo_failure": _("Failed identity confirmation for a sensitive action"),
    "shell_email_set": _("E-mail address set with sessapp-user"),
    "email_change_requested": _("E-mail address change asked for"),
    "email_verified": _("E-mail address confirmed"),
    "email_changed": _("E-mail address changed"),
    "email_change_undone": _("E-mail address change undone from the old address"),
    "password_reset_requested": _("Password reset link sent"),
    "password_reset": _("Password reset with a mailed link"),
    "session_ended_from_notice": _("A session was ended from a sign-in notice"),
    "register_throttled": _("Registration refused (too many attempts)"),
    "reset_throttled": _("Password reset refused (too many requests)"),
    "api_token_throttled": _("API token refused (too many created)"),
    "bearer_refused": _("Unknown API token refused"),
}


def describe_event(event: str) -> str:
    """The event's name for people (a translation string; unknown kinds spelled out)."""
    return EVENT_NAMES.get(event, event.replace("_", " ").capitalize())


NEVER = _("never")
JUST_NOW = _("just now")


def ago(moment: datetime | None, now: datetime, locale: str = "en") -> str:
    """'5 minutes ago', 'vor 3 Tagen': Babel's words in ``locale``; under a
    minute :data:`JUST_NOW`, no moment :data:`NEVER` (translation strings)."""
    if moment is None:
        return NEVER
    delta = now - moment
    if delta.total_seconds() < 60:
        return JUST_NOW
    return format_timedelta(-delta, add_direction=True, locale=locale)


# The template filters: the functions above in the language of the page.

@pass_context
def ago_filter(context: Any, moment: datetime | None, now: datetime) -> str:
    request = context["request"]
    words = ago(moment, now, request.locale_name)
    return translate(request, words) if isinstance(words, TranslationString) else words


@pass_context
def describe_agent_filter(context: Any, user_agent: str | None) -> str:
    return translate(context["request"], describe_agent(user_agent))


@pass_context
def describe_event_filter(context: Any, event: str) -> str:
    return translate(context["request"], describe_event(event))


@lru_cache(maxsize=4096)
def _day(day: date, locale: str) -> str:
    """Babel's medium date, remembered: Babel resolves the locale and parses the
    pattern at each call, 20 µs of ``/profile``'s CPU (timed inside the app)
    for a value that depends on the day and the language alone."""
    return format_date(day, format="medium", locale=locale)


@pass_context
def day_filter(context: Any, moment: date | datetime | None) -> str:
    """The date alone, as the reader's language writes it ("Dec 4, 2026", "04.12.2026")."""
    if moment is None:
        return ""
    day = moment.date() if isinstance(moment, datetime) else moment
    return _day(day, context["request"].locale_name)


STYLESHEET = "sessapp:static/sessapp.css"
FAVICON = "sessapp:static/favicon.svg"
STRENGTH_HINT_SCRIPT = "sessapp:static/password-hint.js"
# Distinct mount points remembered (SCRIPT_NAME comes from the deployment, but a
# bound keeps a misconfigured proxy from growing the cache without end).
_MOUNTS_REMEMBERED = 8


class PagePaths:
    """The URL path of every route without placeholders (``paths.profile``), and
    of the static files (stylesheet, favicon, scripts): what every page's layout
    links to.

    They depend only on where the app is mounted, yet ``request.route_path`` and
    ``static_path`` redo the work at each call, eight of them on every page
    (a fifth of the home page's CPU, measured by bench/). Computed once per
    mount point and shared by the requests that have it.
    """

    def __init__(self, request: Any) -> None:
        mapper = request.registry.getUtility(IRoutesMapper)
        for route in mapper.get_routes():
            if "{" not in route.pattern and "*" not in route.pattern and not route.pregenerator:
                setattr(self, route.name, request.route_path(route.name))
        self.stylesheet = request.static_path(STYLESHEET)
        self.favicon = request.static_path(FAVICON)
        self.password_hint_script = request.static_path(STRENGTH_HINT_SCRIPT)


def page_paths(request: Any) -> PagePaths:
    """``request.paths``: the :class:`PagePaths` for the request's mount point."""
    known = request.registry.setdefault("sessapp.page_paths", {})
    mount = request.script_name
    paths = known.get(mount)
    if paths is None:
        paths = PagePaths(request)
        if len(known) < _MOUNTS_REMEMBERED:
            known[mount] = paths
    return paths


def _call_gettext_directly(config: Any) -> None:
    """``_`` in templates is Jinja2's alias that looks ``gettext`` up in the
    context and calls it: the same function, two calls deeper, on each of a
    page's dozen texts. Point ``_`` at the function itself."""
    environment = config.get_jinja2_environment(".jinja2")
    environment.globals["_"] = environment.globals["gettext"]


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings.setdefault("jinja2.filters", "\n".join([
        "ago = sessapp.templating:ago_filter",
        "day = sessapp.templating:day_filter",
        "describe_agent = sessapp.templating:describe_agent_filter",
        "describe_event = sessapp.templating:describe_event_filter",
    ]))
    # _() and {% trans %} in the request's language; Python's Plural messages too.
    settings.setdefault("jinja2.i18n.domain", "sessapp")
    settings.setdefault("jinja2.i18n.gettext", "sessapp.i18n:TemplateGettext")
    settings.setdefault("jinja2.globals", "languages = sessapp.i18n:LANGUAGES")
    config.include(".i18n")
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".jinja2")
    # Views name their templates in full ("sessapp:templates/home.jinja2"): for a
    # bare name pyramid_jinja2 first tries the view's own package, and Jinja2
    # does not cache that miss, so every page paid a failed file look-up (about
    # 25 µs, measured by bench/). The search path serves templates' includes.
    config.add_jinja2_search_path("sessapp:templates", name=".jinja2")
    config.action(None, lambda: _call_gettext_directly(config), order=999)
    config.add_request_method(page_paths, "paths", reify=True)
