"""CSRF on every unsafe request, and malformed input answered with 4xx."""

from __future__ import annotations

import pytest
from conftest import PASSWORD


def test_anonymous_form_token_lives_in_a_cookie_not_a_row(testapp, harness):
    page = testapp.get("/login")
    assert "csrf_token=" in page.headers["Set-Cookie"]
    assert "HttpOnly" in page.headers["Set-Cookie"]
    assert harness.count("sessions") == 0


@pytest.mark.parametrize("path", ["/session-data", "/login", "/register", "/preferences/theme"])
def test_unsafe_request_without_token_is_400_and_changes_nothing(testapp, harness, path):
    testapp.get("/login")  # has a CSRF cookie, sends no token
    response = testapp.post(path, {"key": "k", "value": "v", "username": "zed",
                                   "password": "long enough password", "theme": "dark"},
                            status=400)
    assert "tampered" in response.text or "CSRF" in response.text
    assert harness.count("sessions") == 0
    assert harness.count("users") == 0
    assert "theme=" not in response.headers.get("Set-Cookie", "")


def test_wrong_token_is_refused(testapp, harness):
    testapp.get("/login")
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": "forged"}, status=400)
    assert harness.count("sessions") == 0


def test_token_in_header_is_accepted(testapp):
    token = testapp.csrf_token()
    testapp.post_json("/session-data", {"key": "k", "value": "v"},
                      headers={"X-CSRF-Token": token}, status=200)
    assert testapp.get("/session-data").json == {"k": "v"}


def test_delete_with_a_cookie_needs_a_token_too(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.csrf_token("/profile")
    created = testapp.post_json("/api/tokens", {"name": "ci", "expires_in_days": 1,
                                                "current_password": PASSWORD},
                                headers={"X-CSRF-Token": token}, status=201).json
    testapp.delete(f"/api/tokens/{created['id']}", status=400)
    assert harness.count("api_tokens", "revoked_at IS NULL") == 1
    testapp.delete(f"/api/tokens/{created['id']}", headers={"X-CSRF-Token": token}, status=204)


@pytest.mark.parametrize(("content_type", "body"), [
    ("multipart/form-data", b"no boundary here"),
    ("application/x-www-form-urlencoded; charset=klingon", b"a=b"),
    ("application/json", b"{not json"),
    ("application/json", b"\xff\xfe\xfa"),
])
def test_malformed_bodies_are_400_never_500(testapp, harness, content_type, body):
    testapp.get("/login")
    for path in ("/session-data", "/login", "/api/tokens", "/logout"):
        response = testapp.post(path, body, headers={"Content-Type": content_type}, status="*")
        assert response.status_int == 400, (path, response.status)
        assert "Traceback" not in response.text
    assert harness.count("sessions") == 0


def test_json_body_that_is_not_an_object_is_a_clear_error(testapp):
    token = testapp.csrf_token()
    response = testapp.post_json("/session-data", ["a", "list"],
                                 headers={"X-CSRF-Token": token}, status=422)
    assert "object" in response.json["error"]


def test_trace_is_refused(testapp):
    response = testapp.request("/", method="TRACE", status="*")
    assert response.status_int == 405


def test_bad_percent_encoding_in_the_path_is_400(testapp):
    response = testapp.get("/%ff%fe", status="*")
    assert response.status_int in (400, 404)


def test_cookies_view_redacts_the_session_cookie(testapp):
    token = testapp.csrf_token()
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": token})
    cookies = testapp.get("/cookies").json
    assert cookies["session"] == "[redacted]"
    assert testapp.session_token not in testapp.get("/cookies").text


def test_cookies_view_redacts_the_csrf_cookie(testapp):
    testapp.csrf_token()
    secret = testapp.cookies["csrf_token"]
    cookies = testapp.get("/cookies").json
    assert cookies["csrf_token"] == "[redacted]"
    assert secret not in testapp.get("/cookies").text


def test_theme_sets_a_cookie_with_the_environment_flags(testapp):
    token = testapp.csrf_token()
    response = testapp.post("/preferences/theme", {"theme": "dark", "csrf_token": token},
                            status=303)
    cookie = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("theme="))
    assert "theme=dark" in cookie
    assert "SameSite=Lax" in cookie
    assert 'data-theme="dark"' in testapp.get("/").text
    testapp.post("/preferences/theme", {"theme": "purple", "csrf_token": token}, status=422)


def test_healthz(testapp):
    assert testapp.get("/healthz").json == {"status": "ok"}


def test_security_headers_on_pages_static_and_errors(testapp):
    for path, status in (("/", 200), ("/static/sessapp.css", 200), ("/nope", 404)):
        response = testapp.get(path, status=status)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert testapp.get("/").headers["Cache-Control"] == "no-store"


def test_a_mangled_cookie_header_is_dropped_not_a_500(testapp, harness):
    response = testapp.get("/", headers={"Cookie": 'session="\x80; csrf_token="\x80'})
    assert response.status_int == 200
    assert harness.count("sessions") == 0


def test_a_nul_in_a_header_is_400(testapp, harness):
    harness.make_user("alice")
    testapp.get("/login", headers={"User-Agent": "evil\x00agent"}, status=400)


def test_api_token_names_must_be_printable(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.csrf_token("/profile")
    response = testapp.post_json("/api/tokens", {"name": "a\u0000b", "expires_in_days": 1,
                                                  "current_password": PASSWORD},
                                 headers={"X-CSRF-Token": token}, status=422)
    assert "printable" in response.json["error"]
    assert harness.count("api_tokens") == 0
