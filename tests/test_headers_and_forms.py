"""Security headers on every kind of response, and password fields as browsers
and password managers expect them."""

from __future__ import annotations

import pytest

PAGES = ["/", "/login", "/register", "/api/me", "/session-data", "/static/sessapp.css",
         "/nope", "/api/nope"]
PAGE_DIRECTIVES = ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
                   "base-uri 'none'")
# API output opened in a browser runs nothing and has no origin (ASVS 3.2.1).
DATA_DIRECTIVES = ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
                   "sandbox")


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(testapp, path):
    response = testapp.get(path, status="*")
    csp = response.headers["Content-Security-Policy"]
    data = response.content_type == "application/json"
    for directive in DATA_DIRECTIVES if data else PAGE_DIRECTIVES:
        assert directive in csp
    assert ("sandbox" in csp) == data
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_json_answers_are_sandboxed_signed_in_and_out(harness, testapp):
    harness.make_user("alice")
    answers = [testapp.get("/api/me", status=401)]
    testapp.login("alice")
    answers += [testapp.get("/api/me", status=200), testapp.get("/session-data", status=200),
                testapp.get("/api/tokens/999", status="*")]
    for response in answers:
        assert response.content_type == "application/json", response.request.path
        assert response.headers["Content-Security-Policy"].endswith("; sandbox")
    page = testapp.get("/profile")
    assert "sandbox" not in page.headers["Content-Security-Policy"]


def test_hsts_covers_subdomains_when_on(make_harness):
    from conftest import new_browser

    harness = make_harness(**{"sessapp.hsts": "true"})
    header = new_browser(harness).get("/").headers["Strict-Transport-Security"]
    assert header == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize(("path", "fields"), [
    ("/login", {"password": "current-password"}),
    ("/register", {"password": "new-password"}),
    ("/password", {"current_password": "current-password", "new_password": "new-password"}),
    ("/sessions", {"current_password": "current-password"}),
])
def test_password_fields_are_masked_and_labelled_for_password_managers(
        harness, testapp, path, fields):
    harness.make_user("alice")
    testapp.login("alice")
    page = testapp.get(path).html
    for name, autocomplete in fields.items():
        field = page.find("input", {"name": name})
        assert field["type"] == "password"
        assert field["autocomplete"] == autocomplete
        assert page.find("label", {"for": field["id"]}) is not None
    username = page.find("input", {"name": "username"})
    if username is not None:
        assert username["autocomplete"] == "username"


def test_a_freshly_migrated_database_has_no_accounts(tmp_path):
    """No default or built-in account exists: every account is made on purpose."""
    from conftest import TESTING_INI
    from sqlalchemy import create_engine, text

    from sessapp.scripts.initdb import upgrade

    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    upgrade(TESTING_INI, url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 0
    engine.dispose()
