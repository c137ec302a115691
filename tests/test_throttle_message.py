"""What a throttled sign-in is told: the wait, in whole minutes rounded up, and
the same figure in seconds in ``Retry-After``."""

from __future__ import annotations

import re

PASSWORD_TRIES = "definitely not the password"


def locked_out(harness, testapp) -> None:
    harness.make_user("alice")
    for _ in range(harness.registry.sessapp_settings.auth.throttle_max_failures):
        testapp.login("alice", PASSWORD_TRIES, status=422)


def refusal(testapp) -> tuple[str, int]:
    response = testapp.login("alice", PASSWORD_TRIES, status=429)
    message = re.search(r"Too many attempts\. Try again in [^<]*\.", response.text)
    assert message is not None, response.text
    return message.group(0), int(response.headers["Retry-After"])


def test_the_wait_is_given_in_minutes_rounded_up(harness, testapp):
    window = harness.registry.sessapp_settings.auth.throttle_window  # 900 s in testing.ini
    locked_out(harness, testapp)
    # 850 s left: 14.2 minutes, said as 15.
    harness.clock.advance(window - 850)
    message, seconds = refusal(testapp)
    assert seconds == 850
    assert message == "Too many attempts. Try again in 15 minutes."


def test_the_last_minute_is_singular(harness, testapp):
    window = harness.registry.sessapp_settings.auth.throttle_window
    locked_out(harness, testapp)
    harness.clock.advance(window - 30)
    message, seconds = refusal(testapp)
    assert seconds == 30
    assert message == "Too many attempts. Try again in 1 minute."
