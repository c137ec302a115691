"""Where a login may send the browser: ``safe_next`` alone, then through the login
form and the login POST, for every payload browsers are known to read as
another site."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from conftest import PASSWORD, Browser

from sessapp.security.redirects import MAX_NEXT_LENGTH, safe_next

# Each of these is, for some browser or server, a way off this site (or a script).
UNSAFE = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:evil.example",
    "https://evil.example",
    "HTTPS://evil.example",
    "http:/evil.example",
    "//user@evil.example",
    "https://trusted@evil.example",
    "https://localhost@evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%255Cevil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%00/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\n//evil.example",
    "\r\n//evil.example",
    "\x00//evil.example",
    "\x01//evil.example",
    "\x1f//evil.example",
    "\x7f//evil.example",
    "\x0b//evil.example",
    "\x0c//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/ /evil.example",
    "/profile\r\nSet-Cookie: x=1",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,x",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "evil.example",
    "profile",
    "./profile",
    "",
]

SAFE = [
    "/profile",
    "/sessions",
    "/sessions?x=1",
    "/sessions?x=1&y=two",
    "/sessions#current",
    "/@evil.example",  # a path on this site, not a userinfo
    "/evil.example",
    "/a/b/c?next=//evil.example",  # only the target's own start matters
    "/admin/users/1/disable?x=%2F",
]

DEFAULT = "/profile"


def ids(payloads: list[str]) -> list[str]:
    return [repr(payload) for payload in payloads]


def login_post(browser: Browser, next_value: str) -> Any:
    token = browser.csrf_token("/login")
    return browser.post("/login", {"username": "alice", "password": PASSWORD,
                                   "csrf_token": token, "next": next_value}, status=303)


def hidden_next(page: Any) -> str | None:
    """The ``next`` field of the login form (the theme switch in the footer has
    its own, the current page's URL)."""
    form = page.html.find("form", {"action": "/login"})
    assert form is not None, "no login form"
    field = form.find("input", {"name": "next"})
    return None if field is None else field["value"]


def login_page(browser: Browser, next_value: str) -> Any:
    return browser.get("/login?next=" + quote(next_value, safe=""))


# -- safe_next alone ------------------------------------------------------------------


@pytest.mark.parametrize("payload", UNSAFE, ids=ids(UNSAFE))
def test_safe_next_refuses_anything_a_browser_could_read_as_another_site(payload):
    assert safe_next(payload) is None


@pytest.mark.parametrize("payload", SAFE, ids=ids(SAFE))
def test_safe_next_returns_a_local_path_unchanged(payload):
    assert safe_next(payload) == payload


def test_safe_next_of_nothing_is_none():
    assert safe_next(None) is None
    assert safe_next("") is None


def test_safe_next_refuses_an_over_long_target():
    path = "/" + "a" * (MAX_NEXT_LENGTH - 1)
    assert safe_next(path) == path
    assert safe_next(path + "a") is None


@pytest.mark.parametrize("char", [chr(code) for code in (*range(0x00, 0x21), 0x7F)],
                         ids=lambda char: f"U+{ord(char):04X}")
def test_safe_next_refuses_every_control_character_and_space_anywhere(char):
    assert safe_next(f"{char}//evil.example") is None
    assert safe_next(f"/{char}/evil.example") is None
    assert safe_next(f"/sessions{char}") is None


@pytest.mark.parametrize("char", [chr(code) for code in (*range(0x00, 0x20), 0x7F)],
                         ids=lambda char: f"U+{ord(char):04X}")
def test_safe_next_refuses_percent_encoded_control_characters(char):
    encoded = quote(char, safe="")
    assert safe_next(f"/{encoded}/evil.example") is None
    assert safe_next(f"/{quote(encoded, safe='')}/evil.example") is None


# -- through HTTP -------------------------------------------------------------------


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.mark.parametrize("payload", UNSAFE, ids=ids(UNSAFE))
def test_login_ignores_an_unsafe_next_and_goes_to_profile(testapp, alice, payload):
    response = login_post(testapp, payload)
    location = urlsplit(response.location)
    assert location.scheme == "http"
    assert location.hostname == "localhost"
    assert location.port is None
    assert (location.path, location.query, location.fragment) == (DEFAULT, "", "")
    assert "evil" not in response.headers["Location"]


@pytest.mark.parametrize("payload", UNSAFE, ids=ids(UNSAFE))
def test_login_form_drops_an_unsafe_next(testapp, payload):
    page = login_page(testapp, payload)
    assert hidden_next(page) is None
    login_form = str(page.html.find("form", {"action": "/login"}))
    assert "evil.example" not in login_form
    assert "script:" not in login_form.lower()


@pytest.mark.parametrize("payload", SAFE, ids=ids(SAFE))
def test_login_honours_a_safe_next(testapp, alice, payload):
    response = login_post(testapp, payload)
    expected = urlsplit(payload)
    location = urlsplit(response.location)
    assert location.hostname == "localhost"
    assert (location.path, location.query) == (expected.path, expected.query)


@pytest.mark.parametrize("payload", SAFE, ids=ids(SAFE))
def test_login_form_carries_a_safe_next(testapp, payload):
    assert hidden_next(login_page(testapp, payload)) == payload


def test_a_failed_login_keeps_a_safe_next_and_drops_an_unsafe_one(testapp, alice):
    token = testapp.csrf_token("/login")
    kept = testapp.post("/login", {"username": "alice", "password": "wrong password here",
                                   "csrf_token": token, "next": "/sessions?x=1"}, status=422)
    assert hidden_next(kept) == "/sessions?x=1"
    dropped = testapp.post("/login", {"username": "alice", "password": "wrong password here",
                                      "csrf_token": token, "next": "//evil.example"},
                           status=422)
    assert hidden_next(dropped) is None


def test_next_is_escaped_in_the_form(testapp):
    payload = '/sessions?q="><script>alert(1)</script>'
    page = login_page(testapp, payload)
    assert hidden_next(page) == payload
    assert "<script>alert(1)</script>" not in page.text


def test_protected_page_round_trip_returns_to_the_page_asked_for(testapp, alice):
    """/sessions?x=1 → login form with next → login → back to /sessions?x=1."""
    to_login = testapp.get("/sessions?x=1", status=303)
    form_page = testapp.get(to_login.location)
    assert hidden_next(form_page) == "/sessions?x=1"
    [form] = [f for f in form_page.forms.values() if f.action == "/login"]
    form["username"] = "alice"
    form["password"] = PASSWORD
    response = form.submit(status=303)
    location = urlsplit(response.location)
    assert (location.hostname, location.path, location.query) == ("localhost", "/sessions", "x=1")
    testapp.get(response.location, status=200)


def test_next_in_the_login_url_query_of_the_post_is_not_used(testapp, alice):
    """Only the form field counts: a crafted action URL cannot add a target."""
    token = testapp.csrf_token("/login")
    response = testapp.post("/login?next=/sessions", {
        "username": "alice", "password": PASSWORD, "csrf_token": token,
    }, status=303)
    assert urlsplit(response.location).path == DEFAULT


@pytest.mark.parametrize("payload", ["//evil.example", "/\\evil.example",
                                     "https://evil.example", "\t//evil.example"],
                         ids=repr)
def test_theme_switch_ignores_an_unsafe_next_too(testapp, payload):
    token = testapp.csrf_token("/login")
    response = testapp.post("/preferences/theme", {"theme": "dark", "next": payload,
                                                   "csrf_token": token}, status=303)
    location = urlsplit(response.location)
    assert (location.hostname, location.path) == ("localhost", "/")
