"""Asking for a reset link takes the same time whether or not an account has
the address (a statistical test, like the sign-in one)."""

from __future__ import annotations

import statistics
import time

import pytest
from conftest import new_browser

TRIES = 40


@pytest.mark.slow
@pytest.mark.backends("sqlite")
def test_known_and_unknown_addresses_take_the_same_time(make_harness):
    harness = make_harness(**{"auth.throttle.max_failures": 1000,
                              "auth.throttle.ip_max_failures": 100000})
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    # Delivery happens after the response, in another thread; keep it from
    # running during the next measurement (it is not part of the request).
    harness.registry.mail_dispatcher.close()
    browser = new_browser(harness)
    token = browser.csrf_token("/password/forgot")

    def attempt(address: str) -> float:
        started = time.perf_counter()
        browser.post("/password/forgot", {"email": address, "csrf_token": token}, status=200)
        return time.perf_counter() - started

    attempt("warm-up@example.org")
    attempt("alice@example.org")
    unknown, known = [], []
    for index in range(TRIES):  # interleaved, so drift affects both alike
        unknown.append(attempt(f"nobody-{index}@example.org"))
        known.append(attempt("alice@example.org"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert len(harness.outbox()) == TRIES + 1
    assert 0.8 <= ratio <= 1.25, (ratio, statistics.median(unknown), statistics.median(known))
