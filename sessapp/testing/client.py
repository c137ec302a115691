"""The pieces every hand-made HTTP client of sessapp shares (the bench's, the
load runner's, the deployment and concurrency tests'): building a request's
headers and body, following Set-Cookie, finding the CSRF field.

Cookies are kept by hand, not by ``http.cookiejar``, so that Secure and
``__Host-`` cookies still flow over the loopback http a TLS-terminating proxy
would speak."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def encode(headers: Mapping[str, str], cookies: Mapping[str, str], *,
           form: Mapping[str, str] | None = None,
           json_body: Any = None) -> tuple[dict[str, str], str | None]:
    """The headers (the jar's cookies in one Cookie header) and body of a request."""
    all_headers = dict(headers)
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body)
        all_headers["Content-Type"] = "application/json"
    return all_headers, body


def cookies_set(set_cookie_lines: Iterable[str]) -> dict[str, str]:
    """The cookies a response sets, by name ("" for one it expires)."""
    found: dict[str, str] = {}
    for line in set_cookie_lines:
        for name, morsel in SimpleCookie(line).items():
            found[name] = "" if morsel["max-age"] == "0" else morsel.value
    return found


def follow_set_cookies(jar: dict[str, str], set_cookie_lines: Iterable[str]) -> None:
    """Update ``jar`` as a browser would: new values kept, expired ones dropped."""
    for name, value in cookies_set(set_cookie_lines).items():
        if value:
            jar[name] = value
        else:
            jar.pop(name, None)
