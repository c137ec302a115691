"""A small HTTP client that keeps cookies by hand, for signing in and for the
requests whose answers the bench checks; and the pieces every hand-made client
of sessapp here shares (the load runner's, the deployment and concurrency
tests'): building a request's headers and body, following Set-Cookie, finding
the CSRF field. Cookies are kept by hand so that Secure and ``__Host-`` cookies
still flow over the loopback http a TLS-terminating proxy would speak."""

from __future__ import annotations

import http.client
import json
import re
import time
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


class Browser:
    def __init__(self, port: int, cookie_name: str = "session") -> None:
        self.port = port
        self.cookie_name = cookie_name
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, form: dict[str, str] | None = None,
                json_body: Any = None, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers, body = encode({"Host": "127.0.0.1", **(headers or {})}, self.cookies,
                                   form=form, json_body=json_body)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        follow_set_cookies(self.cookies, response.headers.get_all("Set-Cookie") or [])
        return response.status, dict(response.headers), text

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path, **kw)

    def csrf(self, path: str = "/login") -> str:
        status, _, page = self.get(path)
        found = CSRF_FIELD.search(page)
        if status != 200 or found is None:
            raise RuntimeError(f"no CSRF token on {path} (status {status})")
        return found.group(1)

    def login(self, username: str, password: str) -> float:
        """Sign in; returns the seconds the POST took (the form fetch is not timed)."""
        token = self.csrf("/login")
        started = time.perf_counter()
        status, _, _ = self.request("POST", "/login", form={
            "username": username, "password": password, "csrf_token": token})
        elapsed = time.perf_counter() - started
        if status != 303 or self.cookie_name not in self.cookies:
            raise RuntimeError(f"sign-in failed with status {status}")
        return elapsed

    @property
    def session_cookie(self) -> str:
        return f"{self.cookie_name}={self.cookies[self.cookie_name]}"
