"""A small HTTP client that keeps cookies by hand (as tests/test_deployment.py does),
for signing in and for the requests whose answers the bench checks."""

from __future__ import annotations

import http.client
import json
import re
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    def __init__(self, port: int, cookie_name: str = "session") -> None:
        self.port = port
        self.cookie_name = cookie_name
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, form: dict[str, str] | None = None,
                json_body: Any = None, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {"Host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body)
            all_headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, dict(response.headers), text

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path, **kw)

    def csrf(self, path: str = "/login") -> str:
        status, _, page = self.get(path)
        found = _CSRF_FIELD.search(page)
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
