"""One simulated browser: a cookie jar kept by hand and one keep-alive
connection, reporting every answer to the run's :class:`~.checks.Stats`; and the
ways a request can end other than with the answer expected."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies
from sessapp.testing.load.checks import Stats
from sessapp.testing.load.constants import CLIENT_TIMEOUT, LOOPBACK, SESSION_COOKIE


class TransportError(Exception):
    """No HTTP answer at all (refused, reset, timed out)."""


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str
    started: float
    ended: float

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def csrf(self) -> str | None:
        match = CSRF_FIELD.search(self.body)
        return match.group(1) if match else None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Browser:
    """One browser: a cookie jar kept by hand and one keep-alive connection.

    ``ports`` are the app processes it may use (a load balancer's pool); it talks
    to ``ports[0]`` until told to fail over.
    """

    def __init__(self, stats: Stats, ports: list[int], name: str) -> None:
        self.stats = stats
        self.ports = list(ports)
        self.name = name
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    def fail_over(self) -> bool:
        """Move to the next app process; False if there is none."""
        self.close()
        if len(self.ports) < 2:
            return False
        self.ports = self.ports[1:]
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(self, method: str, path: str, body: str | None,
              headers: dict[str, str]) -> http.client.HTTPResponse:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(LOOPBACK, self.port,
                                                          timeout=CLIENT_TIMEOUT)
        self._connection.request(method, path, body=body, headers=headers)
        return self._connection.getresponse()

    def request(self, method: str, path: str, form: dict[str, str] | None = None, *,
                headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None,
                keep_cookies: bool = True) -> Reply:
        """Send one request. ``cookies`` replaces the jar for this request only
        (and then the answer's cookies are not kept)."""
        if not self.stats.take():
            raise BudgetExhausted()
        jar = self.cookies if cookies is None else cookies
        all_headers, body = encode({"Host": f"{LOOPBACK}:{self.port}",
                                    "User-Agent": "sessapp-load", **(headers or {})},
                                   jar, form=form)
        started = time.monotonic()
        reused = self._connection is not None
        try:
            try:
                response = self._send(method, path, body, all_headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection before reading
                # the request: send it again on a new one, as browsers do.
                self.close()
                if not reused:
                    raise
                response = self._send(method, path, body, all_headers)
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            message = f"{self.name} {method} {path} on :{self.port}: {type(exc).__name__}: {exc}"
            self.stats.transport_error(message)
            raise TransportError(message) from exc
        reply = Reply(response.status, response.headers, text, started, time.monotonic())
        if response.will_close:
            self.close()
        self.stats.record(method, path, self.port, reply, SESSION_COOKIE in jar)
        if cookies is None and keep_cookies:
            follow_set_cookies(self.cookies, response.headers.get_all("Set-Cookie") or [])
        return reply


class BudgetExhausted(Exception):
    """The run's hard cap on requests was reached."""


class Unexpected(Exception):
    """An answer the contract does not allow here; the scenario resynchronises."""


class Unavailable(Exception):
    """A 503 with Retry-After, where the run tolerates one (an outage)."""
