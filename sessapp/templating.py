"""Jinja2 set-up and the filters that turn stored values into words people read."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

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
    "logout": "Signed out",
    "register": "Account created",
    "password_changed": "Password changed",
    "session_revoked": "A session was ended",
    "sessions_revoked_others": "Every other session was ended",
    "api_token_created": "API token created",
    "api_token_revoked": "API token revoked",
    "csrf_failure": "Form rejected (bad CSRF token)",
    "forbidden": "Access refused",
    "admin_disable": "Account disabled by an admin",
    "admin_enable": "Account enabled by an admin",
    "admin_revoke_sessions": "Sessions ended by an admin",
    "admin_revoke_everyone": "Everyone's sessions ended by an admin",
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
