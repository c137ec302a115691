"""The server-side session through the HTTP interface, on every database."""

from __future__ import annotations

import pytest
from conftest import new_browser
from sqlalchemy import text

from sessapp.models import session_store
from sessapp.sessions.tokens import hash_token


def store(browser, key="colour", value="teal", status=303):
    token = browser.csrf_token("/login")
    return browser.post("/session-data", {"key": key, "value": value, "csrf_token": token},
                        status=status)


def test_browsing_creates_no_row_and_no_session_cookie(testapp, harness):
    for path in ["/", "/login", "/register", "/session-data", "/cookies", "/healthz",
                 "/static/sessapp.css"]:
        response = testapp.get(path)
        assert "session=" not in response.headers.get("Set-Cookie", ""), path
    assert harness.count("sessions") == 0
    assert testapp.session_token is None


def test_a_stored_value_creates_exactly_one_row(testapp, harness):
    store(testapp)
    assert harness.count("sessions") == 1
    assert testapp.get("/session-data").json == {"colour": "teal"}
    store(testapp, "size", "large")
    assert harness.count("sessions") == 1
    assert testapp.get("/session-data").json == {"colour": "teal", "size": "large"}


def test_the_database_holds_only_the_tokens_hash(testapp, harness):
    store(testapp)
    token = testapp.session_token
    assert len(token) >= 43
    with harness.engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM sessions")).scalar_one()
    assert stored == hash_token(token)
    assert token not in stored


def test_read_only_request_inside_touch_interval_is_one_statement_no_write(testapp, harness):
    store(testapp)
    harness.sql.clear()
    testapp.get("/session-data")
    assert len(harness.sql.statements) == 1, harness.sql.statements
    assert harness.sql.writes == []


def test_read_after_touch_interval_updates_last_seen_once(testapp, harness):
    store(testapp)
    harness.clock.advance(61)
    harness.sql.clear()
    response = testapp.get("/session-data")
    assert response.json == {"colour": "teal"}
    assert len(harness.sql.writes) == 1
    assert harness.sql.writes[0].lstrip().upper().startswith("UPDATE")
    assert "Set-Cookie" not in response.headers


def test_storing_a_value_costs_one_update_more_than_reading(testapp, harness):
    store(testapp)
    token = testapp.csrf_token("/login")
    harness.sql.clear()
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": token})
    assert len(harness.sql.writes) == 1
    assert len(harness.sql.statements) == 2, harness.sql.statements


def test_idle_timeout_ends_the_session(testapp, harness):
    store(testapp)
    idle = harness.registry.sessapp_settings.session.idle_timeout
    harness.clock.advance(idle - 1)
    assert testapp.get("/session-data").json == {"colour": "teal"}
    harness.clock.advance(idle - 1)  # activity above moved last-seen forward
    assert testapp.get("/session-data").json == {"colour": "teal"}
    harness.clock.advance(idle + 1)
    response = testapp.get("/session-data")
    assert response.json == {}
    assert "session=;" in response.headers["Set-Cookie"]  # stale cookie cleared


def test_absolute_timeout_ends_even_an_active_session(testapp, harness):
    store(testapp)
    settings = harness.registry.sessapp_settings.session
    step = settings.idle_timeout // 2
    elapsed = 0
    while elapsed + step < settings.absolute_timeout:
        harness.clock.advance(step)
        elapsed += step
        assert testapp.get("/session-data").json == {"colour": "teal"}
    harness.clock.advance(settings.absolute_timeout - elapsed)
    assert testapp.get("/session-data").json == {}


def test_cookie_flags_and_vary(testapp):
    response = store(testapp)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie
    assert "Cookie" in response.headers["Vary"]


def test_too_large_data_is_refused_and_earlier_data_kept(testapp, harness):
    store(testapp)
    limit = harness.registry.sessapp_settings.session.max_size
    response = store(testapp, "big", "x" * (limit + 1), status=413)
    assert "limit" in response.json["error"]
    assert testapp.get("/session-data").json == {"colour": "teal"}


def test_json_body_stores_any_json_value(testapp):
    token = testapp.csrf_token("/login")
    testapp.post_json("/session-data", {"key": "cart", "value": [1, {"a": None}]},
                      headers={"X-CSRF-Token": token}, status=200)
    assert testapp.get("/session-data").json == {"cart": [1, {"a": None}]}


@pytest.mark.parametrize("cookie", [
    "x", "A" * 43, "é" * 10, "A" * 5000, "../../etc/passwd", "'; DROP TABLE sessions; --",
    "\x00\x01", "Zm9v" * 11,
])
def test_garbage_cookies_never_fail_and_never_create_rows(testapp, harness, cookie):
    testapp.set_cookie("session", cookie)
    for path in ["/", "/session-data", "/profile", "/login"]:
        response = testapp.get(path, status="*")
        assert response.status_int < 500
    assert harness.count("sessions") == 0


def test_a_revoked_token_is_dead_everywhere(harness):
    first = new_browser(harness)
    store(first)
    token = first.session_token
    with harness.engine.begin() as connection:
        connection.execute(text("DELETE FROM sessions"))
    second = new_browser(harness)
    second.set_cookie("session", token)
    assert second.get("/session-data").json == {}


def test_signed_in_profile_is_one_statement_and_no_write(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    testapp.get("/profile")
    harness.sql.clear()
    testapp.get("/profile")
    assert len(harness.sql.statements) == 1, harness.sql.statements
    assert harness.sql.writes == []


def test_public_pages_cost_no_sql_even_with_a_session_cookie(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    harness.sql.clear()
    testapp.get("/static/sessapp.css")
    testapp.get("/healthz")  # its one statement is the health check itself
    assert harness.sql.statements == ["SELECT version_num FROM alembic_version"]


def test_signing_in_keeps_the_visitors_own_data_under_a_new_id(testapp, harness):
    harness.make_user("alice")
    store(testapp, "cart", "two apples")
    anonymous = testapp.session_token
    testapp.login("alice")
    assert testapp.session_token != anonymous
    assert testapp.get("/session-data").json == {"cart": "two apples"}
    assert harness.count("sessions", "token_hash = :h", h=hash_token(anonymous)) == 0


def test_signing_in_as_someone_else_keeps_nothing(testapp, harness):
    harness.make_user("alice")
    harness.make_user("bob")
    testapp.login("alice")
    store(testapp, "secret", "alice's")
    testapp.login("bob")
    assert testapp.get("/session-data").json == {}
    assert testapp.get("/api/me").json["username"] == "bob"


@pytest.mark.parametrize("end", [
    lambda db, user_id: session_store.delete_for_user(db, user_id),
    lambda db, user_id: session_store.trim_user_sessions(db, user_id, 0),
])
def test_a_store_delete_alone_commits_with_its_transaction(harness, testapp, end):
    # Core statements are invisible to zope.sqlalchemy's ORM events: unless the
    # store marks the SQL session changed, the commit is a rollback.
    user_id = harness.make_user("alice")
    testapp.login("alice")
    with harness.transaction() as dbsession:
        assert end(dbsession, user_id) == 1
    assert harness.count("sessions") == 0
