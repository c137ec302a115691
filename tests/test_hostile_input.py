"""Hostile input never hurts: generated cookies, headers, forms and JSON bodies
against every route give no 5xx, no traceback, no row from a garbage cookie and
no change from a rejected request."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROUTES_GET = ["/", "/login", "/logout", "/register", "/profile", "/password", "/sessions",
              "/admin", "/session-data", "/cookies", "/healthz", "/api/me", "/api/tokens",
              "/static/sessapp.css", "/nope"]
ROUTES_POST = ["/login", "/logout", "/register", "/password", "/sessions/revoke-others",
               "/sessions/abc/revoke", "/admin/users/1/disable", "/admin/revoke-all-sessions",
               "/session-data", "/preferences/theme", "/api/tokens"]
FIELDS = ["username", "password", "csrf_token", "next", "key", "value", "theme",
          "current_password", "new_password", "name", "expires_in_days"]
STATE_TABLES = ["users", "sessions", "api_tokens"]

HOSTILE = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)
any_text = st.text(max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children,
                                                                        max_size=4),
    max_leaves=10,
)


def snapshot(harness) -> dict[str, int]:
    return {table: harness.count(table) for table in STATE_TABLES}


def assert_harmless(response) -> None:
    assert response.status_int < 500, (response.status, response.text[:500])
    assert "Traceback" not in response.text


@pytest.fixture
def victim(harness):
    harness.make_user("victim", admin=True)
    return harness


@HOSTILE
@given(cookie=header_text, path=st.sampled_from(ROUTES_GET))
def test_garbage_cookies(victim, browser_factory, cookie, path):
    before = snapshot(victim)
    browser = browser_factory()
    response = browser.get(path, headers={"Cookie": f"session={cookie}; csrf_token={cookie}"},
                           status="*", expect_errors=True)
    assert_harmless(response)
    assert snapshot(victim) == before


@HOSTILE
@given(
    authorization=header_text,
    forwarded=header_text,
    origin=header_text,
    path=st.sampled_from(ROUTES_GET),
)
def test_garbage_headers(victim, browser_factory, authorization, forwarded, origin, path):
    before = snapshot(victim)
    browser = browser_factory()
    response = browser.get(path, headers={
        "Authorization": authorization, "X-Forwarded-For": forwarded,
        "X-Forwarded-Proto": forwarded, "Origin": origin, "Referer": origin,
        "Accept": forwarded, "User-Agent": authorization,
    }, status="*", expect_errors=True)
    assert_harmless(response)
    assert snapshot(victim) == before


@HOSTILE
@given(path=st.sampled_from(ROUTES_POST),
       form=st.dictionaries(st.sampled_from(FIELDS), any_text, max_size=6))
def test_garbage_forms_without_a_valid_token_change_nothing(victim, browser_factory, path, form):
    before = snapshot(victim)
    browser = browser_factory()
    browser.get("/login")  # a real CSRF cookie, so only the token is wrong
    response = browser.post(path, form, status="*", expect_errors=True)
    assert_harmless(response)
    assert response.status_int in (400, 401, 403, 303, 404)
    assert snapshot(victim) == before


@HOSTILE
@given(path=st.sampled_from(ROUTES_POST), body=json_values)
def test_garbage_json_with_a_valid_token(victim, browser_factory, path, body):
    browser = browser_factory()
    token = browser.csrf_token("/login")
    response = browser.post_json(path, body, headers={"X-CSRF-Token": token},
                                 status="*", expect_errors=True)
    assert_harmless(response)


@HOSTILE
@given(path=st.sampled_from(ROUTES_POST),
       form=st.dictionaries(st.sampled_from(FIELDS), any_text, max_size=6))
def test_garbage_forms_signed_in(victim, browser_factory, path, form):
    browser = browser_factory()
    browser.login("victim")
    token = browser.csrf_token("/profile")
    response = browser.post(path, {**form, "csrf_token": token}, status="*",
                            expect_errors=True)
    assert_harmless(response)
    victim.wipe()
    victim.make_user("victim", admin=True)


@HOSTILE
@given(raw=st.binary(max_size=400), content_type=st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
    "multipart/form-data; boundary=x", "text/plain", "application/json; charset=latin-1",
]))
def test_garbage_bodies(victim, browser_factory, raw, content_type):
    before = snapshot(victim)
    browser = browser_factory()
    token = browser.csrf_token("/login")
    for path in ("/login", "/session-data", "/api/tokens"):
        response = browser.post(path, raw, headers={"Content-Type": content_type,
                                                    "X-CSRF-Token": token},
                                status="*", expect_errors=True)
        assert_harmless(response)
    assert snapshot(victim)["users"] == before["users"]


def test_user_data_is_escaped_in_html(harness, testapp):
    harness.make_user("victim")
    response = testapp.post("/login", {"username": "<script>alert(1)</script>",
                                       "password": "x", "csrf_token": testapp.csrf_token()},
                            status=422)
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
