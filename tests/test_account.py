"""The signed-in user's own pages: profile, sessions (list, revoke) and password."""

from __future__ import annotations

from typing import Any

from conftest import PASSWORD, Browser, new_browser, signed_in_as
from sqlalchemy import select, text

from sessapp.models import SessionRecord
from sessapp.sessions.tokens import hash_token

NEW_PASSWORD = "violet lantern under seven bridges"
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
)


# -- helpers ----------------------------------------------------------------


def session_rows(harness: Any, user_id: int | None = None) -> list[SessionRecord]:
    """The stored sessions (of one user), read through the model so times are datetimes."""
    query = select(SessionRecord)
    if user_id is not None:
        query = query.where(SessionRecord.user_id == user_id)
    with harness.transaction() as dbsession:
        rows = list(dbsession.scalars(query))
        dbsession.expunge_all()
    return rows


def public_id_of(harness: Any, browser: Browser) -> str:
    """The public id of the session whose token this browser holds."""
    with harness.engine.connect() as connection:
        return connection.execute(
            text("SELECT public_id FROM sessions WHERE token_hash = :token_hash"),
            {"token_hash": hash_token(browser.session_token)},
        ).scalar_one()


def chrome_browser(harness: Any, ip: str = "198.51.100.7") -> Browser:
    return Browser(harness.app, extra_environ={
        "REMOTE_ADDR": ip, "HTTP_HOST": "localhost", "HTTP_USER_AGENT": CHROME_ON_WINDOWS,
    })


def revoke(browser: Browser, public_id: str, *, status: int = 303) -> Any:
    token = browser.csrf_token("/sessions")
    return browser.post(f"/sessions/{public_id}/revoke", {"csrf_token": token}, status=status)


def signed_in_twice(harness: Any, testapp: Browser) -> tuple[int, Browser]:
    """alice, signed in on ``testapp`` and on a second browser (Chrome)."""
    alice = harness.make_user("alice")
    testapp.login("alice")
    other = chrome_browser(harness)
    other.login("alice")
    return alice, other


def revoke_others(browser: Browser, password: str, *, status: int = 303) -> Any:
    token = browser.csrf_token("/sessions")
    return browser.post("/sessions/revoke-others",
                        {"current_password": password, "csrf_token": token}, status=status)


def change_password(browser: Browser, current: str, new: str, *, status: int = 303) -> Any:
    token = browser.csrf_token("/password")
    return browser.post("/password", {"current_password": current, "new_password": new,
                                      "csrf_token": token}, status=status)


# -- profile ------------------------------------------------------------------


def test_profile_sends_anonymous_visitors_to_login_with_next(testapp):
    response = testapp.get("/profile", status=303)
    assert response.location.endswith("/login?next=%2Fprofile")


def test_profile_shows_the_signed_in_user(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    assert signed_in_as(testapp) == "alice"


# -- the sessions list ----------------------------------------------------------


def test_sessions_page_needs_a_signed_in_user(testapp):
    response = testapp.get("/sessions", status=303)
    assert response.location.endswith("/login?next=%2Fsessions")


def test_sessions_page_lists_live_sessions_with_details_and_marks_the_current(
        testapp, harness):
    alice = harness.make_user("alice")
    bob = harness.make_user("bob")
    testapp.login("alice")
    harness.clock.advance(120)
    chrome = chrome_browser(harness)
    chrome.login("alice")
    bobs = new_browser(harness, "203.0.113.99")
    bobs.login("bob")

    stored = {row.public_id: row for row in session_rows(harness, alice)}
    page = testapp.get("/sessions")
    rows = page.html.select("table.sessions tbody tr")
    assert len(rows) == 2  # alice's two, not bob's
    current_id = public_id_of(harness, testapp)
    other_id = public_id_of(harness, chrome)
    assert set(stored) == {current_id, other_id}

    by_id = {}
    for row in rows:
        action = row.find("form")["action"]
        assert action.startswith("/sessions/") and action.endswith("/revoke")
        by_id[action.split("/")[2]] = row
    assert set(by_id) == {current_id, other_id}

    current, other = by_id[current_id], by_id[other_id]
    assert "current" in current.get("class", [])
    assert "(this session)" in current.get_text()
    assert "current" not in other.get("class", [])
    assert "(this session)" not in other.get_text()

    current_cells = [cell.get_text(" ", strip=True) for cell in current.find_all("td")]
    other_cells = [cell.get_text(" ", strip=True) for cell in other.find_all("td")]
    assert current_cells[0].startswith("Firefox on Linux")
    assert current_cells[1] == "192.0.2.10"
    assert other_cells[0] == "Chrome on Windows"
    assert other_cells[1] == "198.51.100.7"
    assert current_cells[2] == "2 minutes ago"  # created before the clock moved
    assert other_cells[2] == "just now"
    for public_id, row in by_id.items():
        created, last_seen = row.find_all("time")
        assert created["datetime"] == stored[public_id].created_at.isoformat() + "Z"
        assert last_seen["datetime"] == stored[public_id].last_seen_at.isoformat() + "Z"
    assert len(session_rows(harness, bob)) == 1


def test_sessions_page_never_shows_a_token_or_its_hash(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    html = testapp.get("/sessions").text
    for browser in (testapp, other):
        token = browser.session_token
        assert token and token not in html
        assert hash_token(token) not in html
    for row in session_rows(harness, alice):
        assert row.token_hash not in html
        assert row.public_id in html


def test_expired_sessions_are_not_listed(testapp, harness):
    harness.make_user("alice")
    old = chrome_browser(harness)
    old.login("alice")
    idle = harness.registry.sessapp_settings.session.idle_timeout
    harness.clock.advance(idle + 1)
    testapp.login("alice")
    rows = testapp.get("/sessions").html.select("table.sessions tbody tr")
    assert len(rows) == 1
    assert "(this session)" in rows[0].get_text()


# -- revoking one session ---------------------------------------------------------


def test_revoking_another_session_ends_it_on_its_next_request(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    assert signed_in_as(other) == "alice"

    response = revoke(testapp, public_id_of(harness, other))
    assert response.location.endswith("/sessions")
    assert signed_in_as(other) is None
    assert signed_in_as(testapp) == "alice"
    assert [row.public_id for row in session_rows(harness, alice)] == [
        public_id_of(harness, testapp)
    ]


def test_revoking_needs_a_csrf_token(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    testapp.post(f"/sessions/{public_id_of(harness, other)}/revoke", status=400)
    testapp.post(f"/sessions/{public_id_of(harness, other)}/revoke",
                 {"csrf_token": "forged"}, status=400)
    assert len(session_rows(harness, alice)) == 2
    assert signed_in_as(other) == "alice"


def test_revoking_someone_elses_session_is_404_and_deletes_nothing(testapp, harness):
    harness.make_user("alice")
    bob = harness.make_user("bob")
    testapp.login("alice")
    bobs = chrome_browser(harness)
    bobs.login("bob")
    bobs_public_id = public_id_of(harness, bobs)

    revoke(testapp, bobs_public_id, status=404)
    assert harness.count("sessions") == 2
    assert [row.public_id for row in session_rows(harness, bob)] == [bobs_public_id]
    assert signed_in_as(bobs) == "bob"
    assert signed_in_as(testapp) == "alice"


def test_revoking_an_unknown_or_token_shaped_id_is_404(testapp, harness):
    _alice, other = signed_in_twice(harness, testapp)
    for guess in ("0" * 24, other.session_token, hash_token(other.session_token)):
        revoke(testapp, guess, status=404)
    assert harness.count("sessions") == 2
    assert signed_in_as(other) == "alice"


def test_revoking_the_current_session_signs_you_out(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    old_token = testapp.session_token

    response = revoke(testapp, public_id_of(harness, testapp))
    assert "session=;" in response.headers["Set-Cookie"]  # cookie expired
    assert signed_in_as(testapp) is None
    assert hash_token(old_token) not in {row.token_hash for row in session_rows(harness)}
    assert len(session_rows(harness, alice)) == 1
    assert signed_in_as(other) == "alice"


def test_revoking_needs_a_signed_in_user(testapp, harness):
    harness.make_user("alice")
    other = chrome_browser(harness)
    other.login("alice")
    response = testapp.post(f"/sessions/{public_id_of(harness, other)}/revoke", status=303)
    assert "/login" in response.location
    assert signed_in_as(other) == "alice"


# -- revoking every other session -----------------------------------------------------


def test_revoke_others_with_the_password_ends_every_other_session(testapp, harness):
    alice = harness.make_user("alice")
    bob = harness.make_user("bob")
    testapp.login("alice")
    others = [chrome_browser(harness, f"198.51.100.{n}") for n in (1, 2)]
    for browser in others:
        browser.login("alice")
    bobs = new_browser(harness, "203.0.113.5")
    bobs.login("bob")

    response = revoke_others(testapp, PASSWORD)
    assert response.location.endswith("/sessions")
    assert signed_in_as(testapp) == "alice"
    for browser in others:
        assert signed_in_as(browser) is None
    assert [row.public_id for row in session_rows(harness, alice)] == [
        public_id_of(harness, testapp)
    ]
    assert signed_in_as(bobs) == "bob"
    assert len(session_rows(harness, bob)) == 1


def test_revoke_others_with_a_wrong_or_missing_password_is_refused_and_ends_nothing(
        testapp, harness):
    """A wrong password is 422 even in sudo mode; none, once sudo mode is over,
    is a trip to /sudo."""
    alice, other = signed_in_twice(harness, testapp)

    response = revoke_others(testapp, "not my password at all", status=422)
    assert "not your current password" in response.text
    token = testapp.csrf_token("/sessions")
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
    stale = testapp.post("/sessions/revoke-others", {"csrf_token": token}, status=303)
    assert stale.location.endswith("/sudo?next=%2Fsessions")
    assert len(session_rows(harness, alice)) == 2
    assert signed_in_as(other) == "alice"
    assert signed_in_as(testapp) == "alice"


def test_revoke_others_needs_a_csrf_token(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    testapp.post("/sessions/revoke-others", {"current_password": PASSWORD}, status=400)
    assert len(session_rows(harness, alice)) == 2
    assert signed_in_as(other) == "alice"


# -- changing the password ------------------------------------------------------------


def test_password_change_with_a_wrong_current_password_is_422_and_changes_nothing(
        testapp, harness):
    _alice, other = signed_in_twice(harness, testapp)
    token_before = testapp.session_token

    response = change_password(testapp, "not my password at all", NEW_PASSWORD, status=422)
    assert "not your current password" in response.text
    assert testapp.session_token == token_before
    assert signed_in_as(other) == "alice"
    new_browser(harness, "192.0.2.50").login("alice", NEW_PASSWORD, status=422)
    new_browser(harness, "192.0.2.51").login("alice", PASSWORD)


def test_password_change_to_a_too_short_password_is_422_and_changes_nothing(
        testapp, harness):
    _alice, other = signed_in_twice(harness, testapp)
    token_before = testapp.session_token

    response = change_password(testapp, PASSWORD, "short pw", status=422)
    assert "at least 12 characters" in response.text
    assert testapp.session_token == token_before
    assert signed_in_as(other) == "alice"
    new_browser(harness, "192.0.2.50").login("alice", "short pw", status=422)
    new_browser(harness, "192.0.2.51").login("alice", PASSWORD)


def test_password_change_rotates_the_session_and_ends_every_other(testapp, harness):
    alice, other = signed_in_twice(harness, testapp)
    old_token = testapp.session_token

    response = change_password(testapp, PASSWORD, NEW_PASSWORD)
    assert response.location.endswith("/profile")
    new_token = testapp.session_token
    assert new_token and new_token != old_token
    assert signed_in_as(testapp) == "alice"
    assert signed_in_as(other) is None
    # The old token is dead too, not only the other browser's.
    replay = new_browser(harness, "192.0.2.77")
    replay.set_cookie("session", old_token)
    assert signed_in_as(replay) is None
    assert [row.token_hash for row in session_rows(harness, alice)] == [hash_token(new_token)]


def test_after_a_password_change_only_the_new_password_logs_in(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    change_password(testapp, PASSWORD, NEW_PASSWORD)
    response = new_browser(harness, "192.0.2.50").login("alice", PASSWORD, status=422)
    assert "do not match" in response.text
    fresh = new_browser(harness, "192.0.2.51")
    fresh.login("alice", NEW_PASSWORD)
    assert signed_in_as(fresh) == "alice"


def test_password_change_needs_a_csrf_token(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    testapp.post("/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                 status=400)
    new_browser(harness, "192.0.2.51").login("alice", PASSWORD)


def test_password_change_needs_a_signed_in_user(testapp, harness):
    harness.make_user("alice")
    response = testapp.post("/password", {"current_password": PASSWORD,
                                          "new_password": NEW_PASSWORD}, status=303)
    assert "/login" in response.location
    new_browser(harness, "192.0.2.51").login("alice", PASSWORD)


# -- session.max_per_user --------------------------------------------------------------


def test_logins_beyond_max_per_user_end_the_oldest_session(make_harness):
    limited = make_harness(**{"session.max_per_user": 2})
    limited.make_user("alice")
    browsers = []
    for n in range(3):
        browser = new_browser(limited, f"192.0.2.{20 + n}")
        browser.login("alice")
        browsers.append(browser)
        limited.clock.advance(5)
    first, second, third = browsers
    assert signed_in_as(first) is None
    assert signed_in_as(second) == "alice"
    assert signed_in_as(third) == "alice"
    assert limited.count("sessions") == 2
