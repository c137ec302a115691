"""The ledger of a load run, and the checks that fill it.

Every browser of a run reports here: each answer's status and latency, every
5xx, every request that got no answer, every value a browser was told was
stored and then did not find, every signed-out cookie that still answered as
signed in. A run is clean when all of those lists and counts are empty.
``Stats`` is also the run's hard cap on requests.
"""

from __future__ import annotations

import re
import statistics
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sessapp.testing.load.constants import (
    DEFAULT_MAX_REQUESTS,
    MAX_DEAD_COOKIES,
    SESSION_COOKIE,
)

if TYPE_CHECKING:
    from sessapp.testing.load.browser import Browser, Reply


@dataclass
class Event:
    """One answered request, kept for the fault tests' time-window checks."""

    started: float
    ended: float
    method: str
    path: str
    status: int
    retry_after: bool
    port: int
    signed_in_cookie: bool


class Stats:
    """Counts shared by every client thread of one run; also the hard cap."""

    def __init__(self, max_requests: int = DEFAULT_MAX_REQUESTS, *,
                 keep_events: bool = False) -> None:
        self.lock = threading.Lock()
        self.max_requests = max_requests
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.transport_errors: list[str] = []
        self.failures: list[str] = []
        self.lost_values = 0
        self.resurrected = 0
        self.dead_cookies: list[str] = []
        self.keep_events = keep_events
        self.events: list[Event] = []

    def take(self) -> bool:
        """One more request allowed? False once the hard cap is reached."""
        with self.lock:
            if self.sent >= self.max_requests:
                return False
            self.sent += 1
            return True

    def record(self, method: str, path: str, port: int, reply: Reply,
               signed_in_cookie: bool) -> None:
        with self.lock:
            self.latencies.append(reply.ended - reply.started)
            self.statuses[reply.status] += 1
            if reply.status >= 500:
                self.server_errors.append(f"{reply.status} {method} {path}: "
                                          f"{page_title(reply.body)}")
            if self.keep_events:
                self.events.append(Event(reply.started, reply.ended, method, path,
                                         reply.status, "Retry-After" in reply.headers,
                                         port, signed_in_cookie))

    def transport_error(self, message: str) -> None:
        with self.lock:
            self.transport_errors.append(message)

    def fail(self, message: str, *, lost: int = 0, resurrected: int = 0) -> None:
        with self.lock:
            self.failures.append(message)
            self.lost_values += lost
            self.resurrected += resurrected

    def dead_cookie(self, cookie: str) -> None:
        with self.lock:
            if len(self.dead_cookies) < MAX_DEAD_COOKIES:
                self.dead_cookies.append(cookie)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, fraction: float) -> float:
        with self.lock:
            ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        if fraction == 0.5:
            return statistics.median(ordered) * 1000
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def page_title(body: str) -> str:
    """An error page's <title>, or the start of the body, for a failure message."""
    match = re.search(r"<title>(.*?)</title>", body, re.S)
    return (match.group(1) if match else body[:120]).strip()


def check_signed_out(browser: Browser, cookie: str, context: str) -> bool:
    """A signed-out cookie must get the anonymous answer: 303 to /login."""
    reply = browser.request("GET", "/profile", cookies={SESSION_COOKIE: cookie})
    if reply.status == 303 and "/login" in reply.location:
        return True
    if reply.status == 503:
        return True  # fail closed during an outage; checked again later
    browser.stats.fail(f"{context}: a signed-out cookie answered {reply.status} on /profile",
                       resurrected=1 if reply.status == 200 else 0)
    return False
