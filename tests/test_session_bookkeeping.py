"""The session row's bookkeeping columns, which no page shows directly but which
decide when a session ends and what its owner sees of it.

Every write and every touch must move ``last_seen_at`` (the idle timeout counts
from it) and ``expires_at`` (expired-row collection deletes by it), and record
the address the request came from (the sessions page shows it, so an owner can
spot a session that is not theirs); sign-ins beyond ``session.max_per_user``
end the oldest sessions, never the newest. Each test here fails when one of
those column updates or the trimming order is lost.
"""

from __future__ import annotations

from typing import Any

from conftest import Browser, new_browser, signed_in_as
from sqlalchemy import text

from sessapp.models import session_store as store

IDLE = 1800  # testing.ini's session.idle_timeout
NEARLY_IDLE = IDLE - 100


def put(browser: Browser, csrf: str, key: str, value: str) -> None:
    browser.post_json("/session-data", {"key": key, "value": value},
                      headers={"X-CSRF-Token": csrf}, status=200)


def collect_expired(harness: Any) -> int:
    """What the expired-session collector (sessapp-gc) deletes right now."""
    with harness.transaction() as dbsession:
        return store.delete_expired_batch(dbsession, harness.clock.now(), 100)


def test_a_session_that_keeps_writing_outlives_the_idle_timeout(testapp, harness):
    csrf = testapp.csrf_token("/login")
    put(testapp, csrf, "first", "1")
    harness.clock.advance(NEARLY_IDLE)
    put(testapp, csrf, "second", "2")
    harness.clock.advance(NEARLY_IDLE)
    assert collect_expired(harness) == 0
    assert testapp.get("/session-data").json == {"first": "1", "second": "2"}


def test_a_session_that_keeps_reading_outlives_the_idle_timeout(testapp, harness):
    csrf = testapp.csrf_token("/login")
    put(testapp, csrf, "first", "1")
    harness.clock.advance(NEARLY_IDLE)
    assert testapp.get("/session-data").json == {"first": "1"}
    harness.clock.advance(NEARLY_IDLE)
    assert collect_expired(harness) == 0
    assert testapp.get("/session-data").json == {"first": "1"}


def test_an_idle_session_is_collected_once_expired(testapp, harness):
    csrf = testapp.csrf_token("/login")
    put(testapp, csrf, "first", "1")
    harness.clock.advance(IDLE + 1)
    assert collect_expired(harness) == 1
    assert harness.count("sessions") == 0


def test_the_sessions_page_shows_the_address_of_the_latest_write_and_touch(harness):
    harness.make_user("alice")
    owner = new_browser(harness, "192.0.2.10")
    owner.login()
    csrf = owner.csrf_token("/sessions")

    elsewhere = new_browser(harness, "198.51.100.7")
    elsewhere.set_cookie("session", owner.session_token)
    put(elsewhere, csrf, "colour", "teal")
    assert "198.51.100.7" in owner.get("/sessions").text

    harness.clock.advance(120)  # past session.touch_interval: the next read touches
    third = new_browser(harness, "203.0.113.9")
    third.set_cookie("session", owner.session_token)
    assert third.get("/session-data").json == {"colour": "teal"}
    assert "203.0.113.9" in owner.get("/sessions").text


def test_sign_ins_beyond_max_per_user_end_exactly_the_oldest(harness):
    """With twenty sign-ins and room for ten, ending any but the ten oldest (by
    token, say) would pass for one chance in 184,756."""
    harness.make_user("alice")
    limit = harness.registry.sessapp_settings.session.max_per_user
    browsers = []
    for n in range(2 * limit):
        browser = new_browser(harness, f"192.0.2.{20 + n}")
        browser.login()
        browsers.append(browser)
        harness.clock.advance(1)
    with harness.engine.connect() as connection:
        kept = set(connection.execute(text("SELECT ip FROM sessions")).scalars())
    assert kept == {f"192.0.2.{20 + n}" for n in range(limit, 2 * limit)}
    assert signed_in_as(browsers[0]) is None
    assert signed_in_as(browsers[-1]) == "alice"
