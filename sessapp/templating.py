"""Jinja2 set-up and the filters that turn stored values into words people read."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pyramid.interfaces import IRoutesMapper

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


def describe_agent(user_agent: str | None) -> str:
    """'Firefox on Windows' from a User-Agent header, or 'Unknown browser'."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    return re.sub(r"[^\w ./-]", "", user_agent)[:40] or "Unknown browser"


EVENT_NAMES = {
    "login_success": "Signed in",
    "login_failure": "Failed sign-in",
    "login_throttled": "Sign-in refused (too many attempts)",
    "reauth_failure": "Wrong current password entered",
    "account_locked": "Sign-in locked for new browsers after too many wrong passwords",
    "logout": "Signed out",
    "register": "Account created",
    "password_changed": "Password changed",
    "session_revoked": "A session was ended",
    "sessions_revoked_others": "Every other session was ended",
    "api_token_created": "API token created",
    "api_token_revoked": "API token revoked",
    "api_tokens_revoked_all": "Every API token was revoked",
    "csrf_failure": "Form rejected (bad CSRF token)",
    "forbidden": "Access refused",
    "admin_disable": "Account disabled by an admin",
    "admin_enable": "Account enabled by an admin",
    "admin_revoke_sessions": "Sessions and API tokens ended by an admin",
    "admin_revoke_everyone": "Everyone's sessions ended by an admin",
    "shell_user_added": "Account created with sessapp-user",
    "shell_password_set": "Password set with sessapp-user",
    "shell_disabled": "Account disabled with sessapp-user",
    "shell_enabled": "Account enabled with sessapp-user",
    "shell_sessions_revoked": "Sessions and API tokens ended with sessapp-user",
    "shell_unlocked": "Sign-in lock lifted with sessapp-user",
    "passkey_added": "Passkey added",
    "passkey_removed": "Passkey removed",
    "passkey_failure": "A passkey's answer was refused",
    "passkey_counter_regressed": "Passkey refused: its signature counter went backwards",
    "login_password_ok": "Password accepted; second factor asked for",
    "mfa_failure": "Wrong second-factor code at sign-in",
    "mfa_totp_enabled": "Authenticator app turned on",
    "mfa_totp_disabled": "Authenticator app turned off",
    "mfa_recovery_codes_regenerated": "New recovery codes made",
    "mfa_recovery_code_used": "Recovery code used to sign in",
    "admin_reset_mfa": "Second factors removed by an admin",
    "sudo_granted": "Identity confirmed for a sensitive action",
    "sudo_failure": "Failed identity confirmation for a sensitive action",
    "shell_email_set": "E-mail address set with sessapp-user",
    "email_change_requested": "E-mail address change asked for",
    "email_verified": "E-mail address confirmed",
    "email_changed": "E-mail address changed",
    "email_change_undone": "E-mail address change undone from the old address",
    "password_reset_requested": "Password reset link sent",
    "password_reset": "Password reset with a mailed link",
    "session_ended_from_notice": "A session was ended from a sign-in notice",
}


def describe_event(event: str) -> str:
    return EVENT_NAMES.get(event, event.replace("_", " ").capitalize())


def ago(moment: datetime | None, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 days ago'."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 45:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


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


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings.setdefault("jinja2.filters", "\n".join([
        "ago = sessapp.templating:ago",
        "describe_agent = sessapp.templating:describe_agent",
        "describe_event = sessapp.templating:describe_event",
    ]))
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".jinja2")
    # Views name their templates in full ("sessapp:templates/home.jinja2"): for a
    # bare name pyramid_jinja2 first tries the view's own package, and Jinja2
    # does not cache that miss, so every page paid a failed file look-up (about
    # 25 µs, measured by bench/). The search path serves templates' includes.
    config.add_jinja2_search_path("sessapp:templates", name=".jinja2")
    config.add_request_method(page_paths, "paths", reify=True)
