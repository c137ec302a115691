"""POST /logout and /register: what each must end, create, refuse and escape."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, Browser, new_browser, who_is_signed_in
from sqlalchemy import text

from sessapp.sessions.tokens import hash_token

STRONG = "violet lantern under seven bridges"

# -- helpers ----------------------------------------------------------------


def session_row_exists(harness: Any, token: str) -> bool:
    return harness.count("sessions", "token_hash = :h", h=hash_token(token)) == 1


def session_cookie_headers(response: Any) -> list[str]:
    return [c for c in response.headers.getall("Set-Cookie") if c.startswith("session=")]


def register(browser: Browser, username: str, password: str = STRONG, *,
             status: int = 303) -> Any:
    token = browser.csrf_token("/register")
    return browser.post("/register", {"username": username, "password": password,
                                      "csrf_token": token}, status=status)


def field_error(response: Any, name: str) -> str:
    found = response.html.find(id=f"{name}-error")
    assert found is not None, f"no error shown for {name}"
    return found.get_text(strip=True)


def user_count(harness: Any) -> int:
    return harness.count("users")


# -- logout ----------------------------------------------------------------------------


def test_logout_redirects_home_with_303(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    response = testapp.logout()
    location = urlsplit(response.location)
    assert (location.hostname, location.path) == ("localhost", "/")


def test_logout_deletes_the_row_and_expires_the_cookie(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.session_token
    response = testapp.logout()
    assert not session_row_exists(harness, token)
    assert harness.count("sessions") == 0
    [cookie] = session_cookie_headers(response)
    assert cookie.startswith("session=;")
    assert "Max-Age=0" in cookie or "expires=" in cookie.lower()
    assert testapp.session_token in (None, "")
    assert who_is_signed_in(testapp) is None


def test_logout_clears_storage_but_keeps_the_device_cookie(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    response = testapp.logout()
    directives = {d.strip() for d in response.headers["Clear-Site-Data"].split(",")}
    assert directives == {'"storage"'}  # "cookies" would drop the device cookie too
    assert not any(value.startswith("device=") for name, value in response.headerlist
                   if name == "Set-Cookie")
    assert testapp.cookies.get("device")


def test_a_logged_out_cookie_replayed_elsewhere_is_anonymous(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    stolen = testapp.session_token
    testapp.logout()
    thief = new_browser(harness, "203.0.113.66")
    thief.set_cookie("session", stolen)
    response = thief.get("/profile", status=303)
    assert response.headers["Location"].endswith("/login?next=%2Fprofile")
    assert who_is_signed_in(thief) is None
    assert harness.count("sessions") == 0


def test_logout_ends_only_the_current_session(testapp, harness):
    harness.make_user("alice")
    laptop = new_browser(harness, "198.51.100.2")
    laptop.login("alice")
    testapp.login("alice")
    testapp.logout()
    assert who_is_signed_in(laptop) == "alice"
    assert session_row_exists(harness, laptop.session_token)


def test_get_logout_logs_nobody_out(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.session_token
    response = testapp.get("/logout")
    assert response.status_int == 200
    assert session_cookie_headers(response) == []
    assert session_row_exists(harness, token)
    assert who_is_signed_in(testapp) == "alice"


def test_logout_without_a_csrf_token_is_400_and_keeps_the_session(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.session_token
    response = testapp.post("/logout", {}, status=400)
    assert session_cookie_headers(response) == []
    assert session_row_exists(harness, token)
    assert who_is_signed_in(testapp) == "alice"


def test_logout_with_a_wrong_csrf_token_is_400_and_keeps_the_session(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    testapp.post("/logout", {"csrf_token": "x" * 43}, status=400)
    testapp.post("/logout", {}, headers={"X-CSRF-Token": "x" * 43}, status=400)
    assert who_is_signed_in(testapp) == "alice"


def test_logout_with_another_users_csrf_token_is_400(testapp, harness):
    harness.make_user("alice")
    harness.make_user("bob")
    bob = new_browser(harness, "198.51.100.2")
    bob.login("bob")
    bobs_token = bob.csrf_token("/profile")
    testapp.login("alice")
    testapp.post("/logout", {"csrf_token": bobs_token}, status=400)
    assert who_is_signed_in(testapp) == "alice"


def test_anonymous_logout_changes_nothing(testapp, harness):
    token = testapp.csrf_token("/login")
    response = testapp.post("/logout", {"csrf_token": token}, status=303)
    assert urlsplit(response.location).path == "/login"
    assert session_cookie_headers(response) == []
    assert harness.count("sessions") == 0


# -- register: success -------------------------------------------------------------


def test_registering_signs_the_new_user_in(testapp, harness):
    response = register(testapp, "newcomer")
    location = urlsplit(response.location)
    assert (location.hostname, location.path) == ("localhost", "/profile")
    assert len(session_cookie_headers(response)) == 1
    assert who_is_signed_in(testapp) == "newcomer"
    assert harness.count("sessions", "user_id IS NOT NULL") == 1
    assert testapp.get("/profile").status_int == 200


def test_a_registered_user_can_log_in_later_with_the_same_password(testapp, harness):
    register(testapp, "newcomer")
    testapp.logout()
    testapp.login("newcomer", STRONG)
    assert who_is_signed_in(testapp) == "newcomer"


def test_registration_stores_only_a_bcrypt_hash(testapp, harness):
    register(testapp, "newcomer")
    assert harness.count("users", "password_hash LIKE :p", p="$2b$%") == 1
    assert harness.count("users", "password_hash LIKE :p", p=f"%{STRONG}%") == 0


def test_registration_rotates_an_anonymous_session_id(testapp, harness):
    token = testapp.csrf_token("/login")
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": token})
    anonymous = testapp.session_token
    register(testapp, "newcomer")
    assert testapp.session_token != anonymous
    assert not session_row_exists(harness, anonymous)


def test_a_fullwidth_username_is_stored_in_its_nfkc_form(testapp, harness):
    register(testapp, "\uff21lice")  # fullwidth A
    assert who_is_signed_in(testapp) == "Alice"
    other = new_browser(harness, "198.51.100.2")
    other.login("alice", STRONG)
    assert who_is_signed_in(other) == "Alice"


def test_usernames_in_other_scripts_can_register(testapp, harness):
    register(testapp, "Ελένη_山田.jo+sé@x-1")
    assert who_is_signed_in(testapp) == "Ελένη_山田.jo+sé@x-1"


# -- register: refusals -------------------------------------------------------------


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice", "\uff21lice",
                                   "\uff41\uff4c\uff49\uff43\uff45"],
                         ids=["same", "upper", "title", "fullwidth-A", "all-fullwidth"])
def test_a_taken_username_is_refused_case_insensitively_and_after_nfkc(testapp, harness, taken):
    harness.make_user("alice")
    response = register(testapp, taken, status=422)
    assert "taken" in field_error(response, "username")
    assert user_count(harness) == 1
    assert testapp.session_token is None
    assert harness.count("sessions") == 0


def test_a_taken_username_is_refused_the_other_way_round(testapp, harness):
    harness.make_user("\uff21LICE")  # stored as "ALICE"
    register(testapp, "alice", status=422)
    assert user_count(harness) == 1


@pytest.mark.parametrize("look_alike", ["adm\u0131n", "\u0430dmin", "ADM\u0130N", "admi\u0144"],
                         ids=["dotless-i", "cyrillic-a", "capital-i-dot", "n-acute"])
def test_a_look_alike_of_a_taken_username_is_refused(testapp, harness, look_alike):
    harness.make_user("admin")
    response = register(testapp, look_alike, status=422)
    assert field_error(response, "username") == "That username is taken."
    assert user_count(harness) == 1
    assert harness.count("sessions") == 0


def test_a_look_alike_is_refused_whichever_came_first(testapp, harness):
    harness.make_user("\u0430dmin")  # Cyrillic a, U+0430
    register(testapp, "admin", status=422)
    assert user_count(harness) == 1


def test_a_look_alike_cannot_sign_in_as_the_account_it_resembles(testapp, harness):
    harness.make_user("admin")
    token = testapp.csrf_token()
    testapp.post("/login", {"username": "\u0430dmin", "password": PASSWORD,
                            "csrf_token": token}, status=422)
    assert harness.count("sessions") == 0


def test_a_short_password_is_refused_with_the_rule_named(testapp, harness):
    minimum = harness.registry.sessapp_settings.auth.password_min_length
    response = register(testapp, "newcomer", "Zq8#vX", status=422)
    message = field_error(response, "password")
    assert f"at least {minimum} characters" in message
    assert user_count(harness) == 0
    assert harness.count("sessions") == 0


def test_a_password_one_short_of_the_minimum_is_refused(testapp, harness):
    minimum = harness.registry.sessapp_settings.auth.password_min_length
    almost = STRONG.replace(" ", "")[: minimum - 1]
    register(testapp, "newcomer", almost, status=422)
    assert user_count(harness) == 0


@pytest.mark.parametrize("password, rule", [
    ("password1234", "common"),
    ("newcomer-is-my-name-42", "username"),
    ("i love sessapp very much", "site"),
    ("aaaaaaaaaaaaaaaaaaaa", "guess"),
])
def test_a_weak_password_is_refused_with_the_rule_named(testapp, harness, password, rule):
    response = register(testapp, "newcomer", password, status=422)
    assert rule in field_error(response, "password").lower()
    assert user_count(harness) == 0


def test_a_password_over_1024_bytes_is_refused_not_a_500(testapp, harness):
    response = register(testapp, "newcomer", "\N{GRINNING FACE}" * 257, status=422)
    assert "1024 bytes" in field_error(response, "password").replace(",", "")
    assert user_count(harness) == 0


@pytest.mark.parametrize("username", [
    "",
    "bob smith",
    "bob/smith",
    "bob;drop",
    "bob'",
    'bob"',
    "bob\x00",
    "bob\n",
    "bob\u200b",  # zero-width space
    "bob\N{GRINNING FACE}",
    "<script>alert(1)</script>",
    "a" * 151,
], ids=repr)
def test_a_username_with_invalid_characters_or_length_is_refused(testapp, harness, username):
    response = register(testapp, username, status=422)
    assert field_error(response, "username")
    assert user_count(harness) == 0
    assert harness.count("sessions") == 0


def test_a_150_character_username_is_accepted(testapp, harness):
    register(testapp, "a" * 150)
    assert who_is_signed_in(testapp) == "a" * 150


def test_register_without_a_csrf_token_is_400_and_creates_nothing(testapp, harness):
    testapp.get("/register")
    testapp.post("/register", {"username": "newcomer", "password": STRONG}, status=400)
    assert user_count(harness) == 0
    assert harness.count("sessions") == 0


@pytest.fixture
def closed(make_harness: Any) -> Browser:
    return new_browser(make_harness(**{"sessapp.registration": "false"}))


def test_registration_off_is_404_for_get(closed):
    closed.get("/register", status=404)


def test_registration_off_is_404_for_post_and_creates_nothing(closed, harness):
    token = closed.csrf_token("/login")
    closed.post("/register", {"username": "newcomer", "password": STRONG,
                              "csrf_token": token}, status=404)
    assert user_count(harness) == 0
    assert harness.count("sessions") == 0


def test_registration_off_hides_the_register_link(closed):
    assert closed.get("/login").html.find("a", {"href": "/register"}) is None


# -- escaping -----------------------------------------------------------------------


def test_a_script_username_is_escaped_when_the_register_form_re_renders(testapp, harness):
    response = register(testapp, "<script>alert(1)</script>", status=422)
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_a_script_username_is_escaped_when_the_login_form_re_renders(testapp, harness):
    harness.make_user("alice")
    token = testapp.csrf_token("/login")
    response = testapp.post("/login", {"username": '"><script>x</script>',
                                       "password": "wrong", "csrf_token": token}, status=422)
    assert "<script>x</script>" not in response.text
    # The only script is the site's own file (the passkey button's), no inline one.
    assert [tag.get("src") for tag in response.html.find_all("script")] == [
        "/static/passkeys.js"]
    assert all(not tag.string for tag in response.html.find_all("script"))
    field = response.html.find("input", {"name": "username"})
    assert field["value"] == '"><script>x</script>'


def test_a_stored_username_with_markup_characters_is_escaped_on_pages(testapp, harness):
    """Registration refuses markup; an account made by other means (CLI, import)
    must still be shown escaped."""
    harness.make_user("alice")
    with harness.engine.begin() as connection:
        connection.execute(text("UPDATE users SET username = :u"),
                           {"u": "<b>alice</b><script>x()</script>"})
    testapp.login("alice", PASSWORD)
    for path in ("/", "/profile", "/sessions"):
        page = testapp.get(path)
        assert "<script>x()</script>" not in page.text, path
        assert page.html.find("script") is None, path
