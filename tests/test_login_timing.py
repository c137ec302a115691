"""Unknown users cost the same time as wrong passwords (a statistical test)."""

from __future__ import annotations

import statistics
import time

import pytest
from conftest import new_browser

TRIES = 15


@pytest.mark.slow
@pytest.mark.backends("sqlite")  # the hashing is measured, not the database
def test_unknown_user_and_wrong_password_take_the_same_time(make_harness):
    harness = make_harness(**{"auth.bcrypt_rounds": 10, "auth.throttle.max_failures": 1000})
    harness.make_user("alice")
    browser = new_browser(harness)
    token = browser.csrf_token()

    def attempt(username: str) -> float:
        started = time.perf_counter()
        browser.post("/login", {"username": username, "password": "wrong password here",
                                "csrf_token": token}, status=422)
        return time.perf_counter() - started

    attempt("warm-up")
    unknown, wrong = [], []
    for index in range(TRIES):  # interleaved, so drift affects both alike
        unknown.append(attempt(f"nobody-{index}"))
        wrong.append(attempt("alice"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.8 <= ratio <= 1.25, (ratio, statistics.median(unknown), statistics.median(wrong))
