"""The anonymous visitor's CSRF cookie and its flags.

The cookie's attributes are serialized once, when the app is built, so each test
here builds its own app: the flags must follow the session cookie's settings.
"""

from __future__ import annotations

from conftest import new_browser


def csrf_cookie(harness) -> list[str]:
    response = new_browser(harness).get("/login")
    header = next(value for value in response.headers.getall("Set-Cookie")
                  if value.startswith("csrf_token="))
    return [part.strip() for part in header.split(";")]


def test_the_csrf_cookie_is_httponly_lax_for_the_whole_site(make_harness):
    attributes = csrf_cookie(make_harness())
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert "secure" not in {part.lower() for part in attributes}
    assert not any(part.lower().startswith("domain=") for part in attributes)


def test_the_csrf_cookie_follows_the_session_cookies_secure_and_samesite(make_harness):
    attributes = csrf_cookie(make_harness(**{"session.secure": "true",
                                             "session.samesite": "Strict"}))
    assert "secure" in {part.lower() for part in attributes}
    assert "SameSite=Strict" in attributes
    assert "HttpOnly" in attributes
