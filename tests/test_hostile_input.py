"""Hostile input never hurts: generated cookies, headers, query strings, forms,
``next`` targets and JSON bodies against every route give no 5xx, no traceback,
no row from a garbage cookie, no change from a rejected request and no header a
real server cannot send (checked through WebTest and through ``pserve``)."""

from __future__ import annotations

import configparser
import http.client
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import ROOT, run_app_server
from sqlalchemy import text

from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies

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


# -- the query string and ``next`` --------------------------------------------------

# Query strings as a hostile client writes them: any bytes percent-encoded (or
# not), broken escapes, separators.
query_strings = st.lists(
    st.one_of(st.binary(min_size=1, max_size=3).map(lambda b: "".join(f"%{x:02X}" for x in b)),
              st.sampled_from(["next=", "%", "%f", "%zz", "=", "&", "+", "/", "a", "%25"])),
    max_size=12,
).map("".join)
# Anything a form can carry (a lone surrogate cannot be sent as UTF-8).
next_values = st.text(alphabet=st.characters(exclude_categories=["Cs"]),
                      max_size=60) | st.sampled_from([
    "/\u3000/x", "/caf\u00e9", "/\u2028x", "/%E3%80%80/x", "/%ff", "/%zz", "/\u202e", "/\ufeff",
    "/\U0001f600", "/a%20b",
])


def assert_ascii_location(response) -> None:
    location = response.headers.get("Location")
    if location is not None:
        assert location.isascii(), location


@HOSTILE
@given(query=query_strings, path=st.sampled_from(ROUTES_GET))
def test_garbage_query_strings(victim, browser_factory, query, path):
    before = snapshot(victim)
    browser = browser_factory()
    response = browser.get(f"{path}?{query}", status="*", expect_errors=True)
    assert_harmless(response)
    assert_ascii_location(response)
    assert snapshot(victim) == before


@pytest.mark.parametrize("query", ["next=%ff", "%ff=1", "next=%ff%fe&x=1", "next=%zz",
                                   "next=/%E3%80%80/x", "next=%C0%AF"])
def test_unreadable_query_parameters_are_absent_not_errors(testapp, query):
    response = testapp.get(f"/login?{query}", status=200)
    assert response.html.find("form", {"action": "/login"}).find("input", {"name": "next"}) \
        is None


def test_readable_query_parameters_beside_an_unreadable_one_are_kept(testapp):
    response = testapp.get("/login?%ff=1&next=/sessions", status=200)
    field = response.html.find("form", {"action": "/login"}).find("input", {"name": "next"})
    assert field["value"] == "/sessions"


def sessions_of(harness, user_id: int) -> int:
    return harness.count("sessions", "user_id = :u", u=user_id)


@HOSTILE
@given(target=next_values)
def test_a_sign_in_with_any_next_answers_with_an_ascii_location_and_one_session(
        victim, browser_factory, target):
    harness = victim
    with harness.engine.begin() as connection:
        connection.execute(text("DELETE FROM sessions"))
    user_id = harness_user_id(harness)
    browser = browser_factory()
    response = browser.login("victim", next=target, status="*")
    assert response.status_int == 303, response.status
    assert_ascii_location(response)
    assert sessions_of(harness, user_id) == 1


def harness_user_id(harness) -> int:
    with harness.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM users WHERE username_key = 'victim'"))\
            .scalar_one()


@pytest.fixture
def victim_only(harness):
    harness.make_user("victim")
    return harness


@pytest.mark.parametrize(("target", "location"), [
    ("/caf\u00e9", "/caf%C3%A9"),
    ("/\u5c71?q=\u00e9", "/%E5%B1%B1?q=%C3%A9"),
    ("/\u3000/x", "/profile"),
    ("/%E3%80%80/x", "/profile"),
    ("/\u2028", "/profile"),
    ("/%ff", "/profile"),
    ("/%zz", "/profile"),
])
def test_next_is_percent_encoded_or_refused_before_the_sign_in_commits(
        victim_only, testapp, target, location):
    response = testapp.login("victim", next=target, status=303)
    assert urlsplit(response.headers["Location"])._replace(scheme="", netloc="").geturl() \
        == location
    assert victim_only.count("sessions") == 1


def test_a_host_header_that_is_not_ascii_is_400(testapp):
    response = testapp.get("/profile", headers={"Host": "caf\u00e9.example"}, status=400)
    assert "Location" not in response.headers


# -- through a real server ----------------------------------------------------------
# WebTest hands header values over as Python strings; waitress must encode them
# as Latin-1 and fails after the view (and the commit) when it cannot.


def served(server, method: str, path: str, *, form: dict[str, str] | None = None,
           cookies: dict[str, str] | None = None, host: str = "localhost"):
    """One request over a socket: (status, headers as (name, value) pairs, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers, body = encode({"Host": host}, cookies or {}, form=form)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    answer = (response.status, response.getheaders(), response.read())
    connection.close()
    return answer


@pytest.fixture
def server(harness, tmp_path):
    running = run_app_server(tmp_path, harness.url)
    yield running
    running.stop()


def served_sign_in(harness, server, target: str):
    jar: dict[str, str] = {}
    _, headers, page = served(server, "GET", "/login")
    follow_set_cookies(jar, [value for name, value in headers if name == "Set-Cookie"])
    token = CSRF_FIELD.search(page.decode()).group(1)
    return served(server, "POST", "/login", cookies=jar, form={
        "username": "victim", "password": PASSWORD, "csrf_token": token, "next": target})


@pytest.mark.parametrize("path", ["/login?next=%ff", "/login?%ff=1", "/login?next=%zz",
                                  "/profile?%ff=1", "/login?next=/%E3%80%80/x"])
def test_served_unreadable_query_parameters_are_not_errors(server, path):
    status, headers, _ = served(server, "GET", path)
    assert status in (200, 303)
    assert all(value.isascii() for name, value in headers if name == "Location")


@pytest.mark.parametrize(("target", "location"), [("/\u3000/x", "/profile"),
                                                  ("/caf\u00e9", "/caf%C3%A9"),
                                                  ("/\U0001f600", "/%F0%9F%98%80")])
def test_served_sign_in_with_a_non_latin1_next_answers_and_leaves_one_session(
        victim_only, server, target, location):
    status, headers, _ = served_sign_in(victim_only, server, target)
    assert status == 303
    [sent] = [value for name, value in headers if name == "Location"]
    assert sent.isascii() and urlsplit(sent).path == location
    assert any(value.startswith("session=") for name, value in headers if name == "Set-Cookie")
    assert victim_only.count("sessions") == 1


def test_served_a_host_header_that_is_not_ascii_is_400(server):
    status, headers, _ = served(server, "GET", "/profile", host="caf\u00e9.example")
    assert status == 400
    assert not [value for name, value in headers if name == "Location"]


def test_served_responses_do_not_name_the_server(server):
    for path in ("/", "/login", "/nope", "/static/sessapp.css"):
        _, headers, _ = served(server, "GET", path)
        assert "server" not in {name.lower() for name, _ in headers}, path


@pytest.mark.parametrize("ini", ["development.ini", "production.ini", "testing.ini"])
def test_every_ini_file_keeps_the_server_nameless(ini):
    parser = configparser.RawConfigParser()
    parser.read(ROOT / ini)
    assert parser.get("server:main", "ident") == ""
