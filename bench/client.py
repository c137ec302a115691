"""A small HTTP client that keeps cookies by hand, for signing in and for the
requests whose answers the bench checks. Request encoding, Set-Cookie handling
and the CSRF field come from :mod:`sessapp.testing.client`, shared with the
tests."""

from __future__ import annotations

import http.client
import time
from typing import Any

from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies


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
