"""POST /login: the redirect, the new session id, one generic failure, bcrypt
exactly once on every path, session fixation, CSRF rotation, exact passwords,
long passwords and rehashing at a higher cost."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, Browser, bcrypt_cost, new_browser, who_is_signed_in
from sqlalchemy import text

from sessapp.accounts import users as accounts
from sessapp.accounts.signin import LOGIN_FAILED
from sessapp.sessions.tokens import hash_token

# -- helpers ----------------------------------------------------------------


def store(browser: Browser, key: str = "colour", value: str = "teal") -> Any:
    """Store one value in the visitor's session (anonymous or not)."""
    token = browser.csrf_token("/login")
    return browser.post("/session-data", {"key": key, "value": value, "csrf_token": token},
                        status=303)


def post_login(browser: Browser, username: str, password: str, *, status: int = 422,
               **extra: str) -> Any:
    """A login POST with a token fetched beforehand (so the POST alone can be measured)."""
    token = browser.csrf_token("/login")
    return browser.post("/login", {"username": username, "password": password,
                                   "csrf_token": token, **extra}, status=status)


def session_row_exists(harness: Any, token: str) -> bool:
    return harness.count("sessions", "token_hash = :h", h=hash_token(token)) == 1


def replay(harness: Any, token: str) -> Browser:
    """Another browser (another IP) that sends only this session cookie."""
    other = new_browser(harness, "203.0.113.66")
    other.set_cookie("session", token)
    return other


def stored_hash(harness: Any, username: str) -> str:
    with harness.engine.connect() as connection:
        return connection.execute(
            text("SELECT password_hash FROM users WHERE username = :u"), {"u": username}
        ).scalar_one()


def disable(harness: Any, user_id: int) -> None:
    with harness.transaction() as dbsession:
        accounts.disable(dbsession, accounts.get_user(dbsession, user_id), harness.clock.now())


def error_messages(response: Any) -> list[str]:
    return [p.get_text(strip=True) for p in response.html.select(".error")]


# -- success --------------------------------------------------------------------


def test_login_redirects_to_profile_with_303(testapp, harness):
    harness.make_user("alice")
    response = testapp.login("alice")
    assert response.status_int == 303
    location = urlsplit(response.location)
    assert (location.hostname, location.path, location.query) == ("localhost", "/profile", "")
    assert testapp.get(response.location).status_int == 200


def test_login_issues_a_new_session_cookie_bound_to_the_user(testapp, harness):
    user_id = harness.make_user("alice")
    response = testapp.login("alice")
    cookie = [c for c in response.headers.getall("Set-Cookie") if c.startswith("session=")]
    assert len(cookie) == 1
    assert "HttpOnly" in cookie[0]
    token = testapp.session_token
    assert token and len(token) >= 43
    assert harness.count("sessions", "token_hash = :h AND user_id = :u",
                         h=hash_token(token), u=user_id) == 1
    assert harness.count("sessions") == 1
    assert who_is_signed_in(testapp) == "alice"


def test_login_honours_a_safe_next(testapp, harness):
    harness.make_user("alice")
    response = testapp.login("alice", next="/sessions?x=1")
    location = urlsplit(response.location)
    assert (location.hostname, location.path, location.query) == ("localhost", "/sessions", "x=1")


def test_username_is_matched_case_insensitively_and_after_nfkc(testapp, harness):
    harness.make_user("alice")
    testapp.login("ALICE")
    assert who_is_signed_in(testapp) == "alice"
    other = new_browser(harness, "198.51.100.2")
    other.login("\uff21lice")  # fullwidth capital A
    assert who_is_signed_in(other) == "alice"


def test_login_accepts_a_json_body_with_the_token_in_a_header(testapp, harness):
    harness.make_user("alice")
    token = testapp.csrf_token("/login")
    testapp.post_json("/login", {"username": "alice", "password": PASSWORD},
                      headers={"X-CSRF-Token": token}, status=303)
    assert who_is_signed_in(testapp) == "alice"


# -- failure ------------------------------------------------------------------------


def test_unknown_user_wrong_password_and_disabled_account_look_identical(testapp, harness):
    """Same typed username, same browser: only the server's state differs, so the
    three answers must be byte-for-byte the same."""
    unknown = post_login(testapp, "carol", PASSWORD)
    user_id = harness.make_user("carol")
    wrong = post_login(testapp, "carol", PASSWORD + "!")
    disable(harness, user_id)
    disabled = post_login(testapp, "carol", PASSWORD)  # the right password
    for response in (unknown, wrong, disabled):
        assert response.status_int == 422
        assert error_messages(response) == [LOGIN_FAILED]
        assert "Retry-After" not in response.headers
    assert unknown.text == wrong.text == disabled.text
    assert unknown.headers.get("Set-Cookie") == wrong.headers.get("Set-Cookie") \
        == disabled.headers.get("Set-Cookie")
    assert harness.count("sessions") == 0
    assert testapp.session_token is None


def test_failure_message_does_not_name_the_reason(testapp, harness):
    harness.make_user("alice")
    response = post_login(testapp, "alice", "not the password at all")
    lowered = response.text.lower()
    for leak in ("unknown user", "no such user", "wrong password", "incorrect password",
                 "disabled", "does not exist"):
        assert leak not in lowered


def test_failed_login_keeps_the_typed_username_but_never_the_password(testapp, harness):
    harness.make_user("alice")
    response = post_login(testapp, "alice", "secret-typed-password-123")
    assert response.html.find("input", {"name": "username"})["value"] == "alice"
    assert "secret-typed-password-123" not in response.text
    assert response.html.find("input", {"name": "password"}).get("value") in (None, "")


def test_failed_login_leaves_an_existing_session_signed_in(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.session_token
    post_login(testapp, "alice", "wrong password entirely")
    assert testapp.session_token == token
    assert who_is_signed_in(testapp) == "alice"


@pytest.mark.parametrize("typed", [
    PASSWORD + " ",
    " " + PASSWORD,
    PASSWORD.upper(),
    PASSWORD.capitalize(),
    PASSWORD[:-1],
    "",
], ids=["trailing-space", "leading-space", "upper-case", "capitalized", "truncated", "empty"])
def test_password_is_checked_exactly_as_typed(testapp, harness, typed):
    harness.make_user("alice")
    response = post_login(testapp, "alice", typed)
    assert error_messages(response) == [LOGIN_FAILED]
    assert harness.count("sessions") == 0
    assert who_is_signed_in(testapp) is None


def test_a_password_over_1024_bytes_is_a_422_not_a_500(testapp, harness):
    harness.make_user("alice")
    for too_long in ("a" * 1025, "\N{GRINNING FACE}" * 257):  # 1,025 and 1,028 bytes
        response = post_login(testapp, "alice", too_long)
        assert error_messages(response) == [LOGIN_FAILED]
    assert harness.count("sessions") == 0


def test_a_password_longer_than_the_form_allows_is_a_422_not_a_500(testapp, harness):
    harness.make_user("alice")
    response = post_login(testapp, "alice", "a" * 5000)
    assert error_messages(response) == [LOGIN_FAILED]


def test_a_non_text_json_password_is_a_422(testapp, harness):
    harness.make_user("alice")
    token = testapp.csrf_token("/login")
    response = testapp.post_json("/login", {"username": "alice", "password": ["x"]},
                                 headers={"X-CSRF-Token": token}, status=422)
    assert error_messages(response) == [LOGIN_FAILED]


def test_a_malformed_stored_hash_is_a_failed_login_not_a_500(testapp, harness):
    harness.make_user("alice")
    with harness.engine.begin() as connection:
        connection.execute(text("UPDATE users SET password_hash = 'not-a-bcrypt-hash'"))
    response = post_login(testapp, "alice", PASSWORD)
    assert error_messages(response) == [LOGIN_FAILED]
    assert harness.count("sessions") == 0


# -- hostile usernames ------------------------------------------------------------------


@pytest.mark.parametrize("username", ["alice\x00", "\x00", "al\x00ice"], ids=repr)
def test_a_nul_in_the_username_is_a_counted_failure_not_a_500(testapp, harness, username):
    """PostgreSQL refuses NUL in text: the name must still be looked up, counted
    against the throttle and audited like any other failure."""
    harness.make_user("alice")
    response = post_login(testapp, username, PASSWORD)
    assert error_messages(response) == [LOGIN_FAILED]
    assert harness.count("sessions") == 0
    assert harness.count("throttle_hits", "scope = 'login_account'") == 1
    assert harness.count("throttle_hits", "scope = 'login_ip'") == 1
    assert harness.count("auth_events", "event = 'login_failure'") == 1


def test_a_nul_in_a_json_username_is_a_422(testapp, harness):
    harness.make_user("alice")
    token = testapp.csrf_token("/login")
    response = testapp.post("/login", b'{"username": "alice\\u0000", "password": "x"}',
                            headers={"Content-Type": "application/json",
                                     "X-CSRF-Token": token}, status=422)
    assert error_messages(response) == [LOGIN_FAILED]


@pytest.mark.parametrize("body", [
    b'{"username": "\\ud800", "password": "x"}',
    b'{"username": "alice", "password": "\\udfff"}',
], ids=["username", "password"])
def test_a_lone_surrogate_in_a_json_login_is_a_400_not_a_500(testapp, harness, body):
    """Valid JSON, but not text that any database (or UTF-8) can hold."""
    harness.make_user("alice")
    token = testapp.csrf_token("/login")
    testapp.post("/login", body, headers={"Content-Type": "application/json",
                                          "X-CSRF-Token": token}, status=400)
    assert harness.count("sessions") == 0


def test_a_very_long_username_that_grows_under_case_folding_is_a_422(testapp, harness):
    harness.make_user("alice")
    response = post_login(testapp, "\u00df" * 600, PASSWORD)  # folds to 1,200 letters
    assert error_messages(response) == [LOGIN_FAILED]


# -- bcrypt runs exactly once on every path ---------------------------------------


@pytest.mark.parametrize("case", [
    "unknown-user", "wrong-password", "disabled-account", "too-long-password",
    "empty-fields", "malformed-stored-hash", "success",
])
def test_every_login_path_runs_bcrypt_exactly_once(testapp, harness, bcrypt_calls, case):
    user_id = harness.make_user("alice")
    username, password, status = "alice", PASSWORD, 422
    if case == "unknown-user":
        username = "nobody"
    elif case == "wrong-password":
        password = PASSWORD + "x"
    elif case == "disabled-account":
        disable(harness, user_id)
    elif case == "too-long-password":
        password = "p" * 2000
    elif case == "empty-fields":
        username, password = "", ""
    elif case == "malformed-stored-hash":
        with harness.engine.begin() as connection:
            connection.execute(text("UPDATE users SET password_hash = '$2b$04$short'"))
    else:
        status = 303
    token = testapp.csrf_token("/login")
    bcrypt_calls.reset()
    testapp.post("/login", {"username": username, "password": password, "csrf_token": token},
                 status=status)
    assert bcrypt_calls.checked == 1, case
    assert bcrypt_calls.hashed == 0, case
    # At the configured cost, so that no path is cheaper than a real check.
    rounds = harness.registry.password_hasher.rounds
    assert bcrypt_cost(bcrypt_calls.checked_against[0].decode()) == rounds


def test_a_throttled_login_is_refused_without_checking_the_password(
        testapp, harness, bcrypt_calls):
    harness.make_user("alice")
    failures = harness.registry.sessapp_settings.auth.throttle_max_failures
    for _ in range(failures):
        post_login(testapp, "alice", "wrong password entirely")
    token = testapp.csrf_token("/login")
    bcrypt_calls.reset()
    response = testapp.post("/login", {"username": "alice", "password": PASSWORD,
                                       "csrf_token": token}, status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert bcrypt_calls.checked == 0
    assert harness.count("sessions") == 0


# -- session fixation ---------------------------------------------------------------


def test_login_kills_the_anonymous_session_id(testapp, harness):
    harness.make_user("alice")
    store(testapp)
    old = testapp.session_token
    assert old is not None and session_row_exists(harness, old)
    testapp.login("alice")
    new = testapp.session_token
    assert new not in (None, old)
    assert not session_row_exists(harness, old)
    assert session_row_exists(harness, new)
    attacker = replay(harness, old)
    assert who_is_signed_in(attacker) is None
    assert attacker.get("/session-data").json == {}
    assert attacker.get("/profile", status=303).location.endswith("/login?next=%2Fprofile")


def test_a_session_id_planted_by_an_attacker_is_never_signed_in(testapp, harness):
    """The attacker makes an anonymous session, plants its cookie in the victim's
    browser and waits for the victim to sign in: the attacker's copy stays
    anonymous, because sign-in issues a new id and deletes the planted row."""
    harness.make_user("alice")
    attacker = new_browser(harness, "203.0.113.66")
    store(attacker, "planted", "by-the-attacker")
    planted = attacker.session_token
    testapp.set_cookie("session", planted)
    testapp.login("alice")
    assert testapp.session_token != planted
    assert not session_row_exists(harness, planted)
    assert who_is_signed_in(testapp) == "alice"
    assert who_is_signed_in(attacker) is None
    attacker.get("/profile", status=303)
    assert harness.count("sessions") == 1
    assert harness.count("sessions", "user_id IS NULL") == 0


def test_the_csrf_token_changes_at_login(testapp, harness):
    harness.make_user("alice")
    before = testapp.csrf_token("/login")
    testapp.login("alice")
    after = testapp.csrf_token("/profile")
    assert after != before
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": before}, status=400)
    testapp.post("/session-data", {"key": "k", "value": "v"},
                 headers={"X-CSRF-Token": before}, status=400)
    assert testapp.get("/session-data").json == {}
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": after}, status=303)
    assert testapp.get("/session-data").json == {"k": "v"}


def test_the_pre_login_csrf_token_cannot_log_out(testapp, harness):
    harness.make_user("alice")
    before = testapp.csrf_token("/login")
    testapp.login("alice")
    testapp.post("/logout", {"csrf_token": before}, status=400)
    assert who_is_signed_in(testapp) == "alice"


def test_signing_in_again_rotates_the_session_id_and_the_csrf_token(testapp, harness):
    harness.make_user("alice")
    testapp.login("alice")
    first = testapp.session_token
    first_csrf = testapp.csrf_token("/profile")
    testapp.login("alice")
    second = testapp.session_token
    assert second not in (None, first)
    assert not session_row_exists(harness, first)
    assert harness.count("sessions") == 1
    assert who_is_signed_in(replay(harness, first)) is None
    assert who_is_signed_in(testapp) == "alice"
    assert testapp.csrf_token("/profile") != first_csrf
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": first_csrf},
                 status=400)


def test_signing_in_as_someone_else_carries_nothing_of_the_first_user(testapp, harness):
    alice_id = harness.make_user("alice")
    harness.make_user("bob")
    testapp.login("alice")
    store(testapp, "alice-secret", "only for alice")
    alice_token = testapp.session_token
    testapp.login("bob")
    assert who_is_signed_in(testapp) == "bob"
    assert testapp.get("/session-data").json == {}
    assert testapp.session_token != alice_token
    assert harness.count("sessions", "user_id = :u", u=alice_id) == 0
    assert who_is_signed_in(replay(harness, alice_token)) is None


# -- CSRF on the login form ----------------------------------------------------------


def test_login_without_a_csrf_token_is_400_and_creates_no_session(testapp, harness):
    harness.make_user("alice")
    testapp.get("/login")  # the CSRF cookie is there; only the field is missing
    response = testapp.post("/login", {"username": "alice", "password": PASSWORD},
                            status=400)
    assert "session=" not in response.headers.get("Set-Cookie", "")
    assert harness.count("sessions") == 0
    assert who_is_signed_in(testapp) is None


def test_login_with_a_wrong_csrf_token_is_400_and_creates_no_session(testapp, harness):
    harness.make_user("alice")
    testapp.get("/login")
    testapp.post("/login", {"username": "alice", "password": PASSWORD,
                            "csrf_token": "x" * 43}, status=400)
    assert harness.count("sessions") == 0
    assert who_is_signed_in(testapp) is None


def test_login_with_another_browsers_csrf_token_is_400(testapp, harness):
    harness.make_user("alice")
    other = new_browser(harness, "198.51.100.2")
    foreign = other.csrf_token("/login")
    testapp.get("/login")
    testapp.post("/login", {"username": "alice", "password": PASSWORD,
                            "csrf_token": foreign}, status=400)
    assert harness.count("sessions") == 0


# -- long and unusual passwords ----------------------------------------------------


def shuffled_emoji(count: int, seed: int) -> str:
    """Distinct emoji in a fixed random order (not a sequence a strength check
    would call weak)."""
    chars = [chr(code) for code in range(0x1F600, 0x1F600 + count)]
    random.Random(seed).shuffle(chars)
    return "".join(chars)


def random_ascii(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 -") for _ in range(count))


EMOJI_PASSWORD = shuffled_emoji(64, seed=7)  # 256 bytes of UTF-8
ASCII_PASSWORD = random_ascii(1000, seed=11)


@pytest.mark.parametrize("password", [EMOJI_PASSWORD, ASCII_PASSWORD],
                         ids=["64-emoji", "1000-ascii"])
def test_a_long_password_works_end_to_end_through_registration(testapp, harness, password):
    token = testapp.csrf_token("/register")
    testapp.post("/register", {"username": "longpass", "password": password,
                               "csrf_token": token}, status=303)
    testapp.logout()
    other = new_browser(harness, "198.51.100.2")
    other.login("longpass", password)
    assert who_is_signed_in(other) == "longpass"


@pytest.mark.parametrize("password", [EMOJI_PASSWORD, ASCII_PASSWORD],
                         ids=["64-emoji", "1000-ascii"])
def test_a_long_password_counts_in_full(testapp, harness, password):
    """bcrypt reads only 72 bytes: a password that differs only past them, or
    stops at them, must still fail."""
    harness.make_user("longpass", password)
    testapp.login("longpass", password)
    other = new_browser(harness, "198.51.100.2")
    last_changed = password[:-1] + ("!" if password[-1] != "!" else "?")
    post_login(other, "longpass", last_changed)
    cut_at_72_bytes = password.encode()[:72].decode("utf-8", "ignore")
    post_login(other, "longpass", cut_at_72_bytes)
    assert who_is_signed_in(other) is None


# -- rehash at a higher cost -----------------------------------------------------------


def test_login_rehashes_a_hash_made_with_fewer_rounds(harness, make_harness):
    harness.make_user("alice")  # at testing.ini's cost
    old_hash = stored_hash(harness, "alice")
    old_cost = bcrypt_cost(old_hash)
    stronger = make_harness(**{"auth.bcrypt_rounds": old_cost + 1})
    browser = new_browser(stronger)
    browser.login("alice")
    new_hash = stored_hash(harness, "alice")
    assert new_hash != old_hash
    assert bcrypt_cost(new_hash) == old_cost + 1
    # The new hash is of the same password.
    browser.logout()
    browser.login("alice")
    assert stored_hash(harness, "alice") == new_hash


def test_a_failed_login_never_rehashes(harness, make_harness):
    harness.make_user("alice")
    old_hash = stored_hash(harness, "alice")
    stronger = make_harness(**{"auth.bcrypt_rounds": bcrypt_cost(old_hash) + 1})
    post_login(new_browser(stronger), "alice", PASSWORD + "x")
    assert stored_hash(harness, "alice") == old_hash


def test_login_at_the_configured_cost_does_not_rehash(testapp, harness, bcrypt_calls):
    harness.make_user("alice")
    old_hash = stored_hash(harness, "alice")
    token = testapp.csrf_token("/login")
    bcrypt_calls.reset()
    testapp.post("/login", {"username": "alice", "password": PASSWORD, "csrf_token": token},
                 status=303)
    assert bcrypt_calls.hashed == 0
    assert stored_hash(harness, "alice") == old_hash


def test_a_hash_made_with_more_rounds_is_kept(harness, make_harness):
    """Lowering the configured cost never downgrades stored hashes."""
    stronger = make_harness(**{"auth.bcrypt_rounds": 5})
    stronger.make_user("alice")
    old_hash = stored_hash(harness, "alice")
    assert bcrypt_cost(old_hash) == 5
    new_browser(harness).login("alice")
    assert stored_hash(harness, "alice") == old_hash
