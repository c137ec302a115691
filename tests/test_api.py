"""The JSON API: /api/me and API tokens, by session cookie or by bearer token."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from conftest import PASSWORD, Browser, new_browser
from sqlalchemy import text

from sessapp.accounts.api_tokens import PREFIX

TOKEN_KEYS = {"id", "name", "token", "expires_at", "scopes"}


# -- helpers ----------------------------------------------------------------


def script(harness: Any) -> Browser:
    """A client with no cookie jar worth the name: a script holding a token."""
    return Browser(harness.app, extra_environ={"HTTP_HOST": "localhost",
                                               "REMOTE_ADDR": "192.0.2.200"})


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create_token(browser: Browser, name: Any = "ci", days: Any = 30, *,
                 status: int = 201, headers: dict[str, str] | None = None,
                 password: str | None = PASSWORD, **fields: Any) -> Any:
    """POST /api/tokens with the browser's session cookie, its CSRF token and
    the current password (``password=None`` leaves it out)."""
    if headers is None:
        headers = {"X-CSRF-Token": browser.csrf_token("/sessions")}
    body = {"name": name, "expires_in_days": days, **fields}
    if password is not None:
        body["current_password"] = password
    return browser.post_json("/api/tokens", body, headers=headers, status=status)


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_int == status
    assert response.content_type == "application/json"
    assert isinstance(response.json["error"], str) and response.json["error"]


def no_cookie_sent(response: Any) -> None:
    assert response.request.headers.get("Cookie") is None


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def signed_in(testapp: Browser, alice: int) -> Browser:
    testapp.login("alice")
    return testapp


@pytest.fixture
def secret(signed_in: Browser) -> str:
    """A live API token of alice's, with the default scope (read)."""
    return create_token(signed_in).json["token"]


@pytest.fixture
def writer(signed_in: Browser) -> str:
    """A live API token of alice's that may also write."""
    return create_token(signed_in, "writer", scopes=["read", "write"]).json["token"]


# -- /api/me --------------------------------------------------------------------


def test_me_anonymous_is_401_json_with_a_bearer_challenge(testapp):
    for accept in ("application/json", "text/html", "*/*"):
        response = testapp.get("/api/me", headers={"Accept": accept}, status=401)
        assert_json_error(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_me_with_the_session_cookie(signed_in, alice):
    assert signed_in.get("/api/me", status=200).json == {
        "id": alice, "username": "alice", "roles": [],
    }


def test_me_shows_roles(testapp, harness):
    root = harness.make_user("root", admin=True)
    testapp.login("root")
    assert testapp.get("/api/me").json == {"id": root, "username": "root", "roles": ["admin"]}


def test_me_with_a_bearer_token_and_no_cookie(harness, alice, secret):
    response = script(harness).get("/api/me", headers=bearer(secret), status=200)
    no_cookie_sent(response)
    assert response.json == {"id": alice, "username": "alice", "roles": []}
    assert "Set-Cookie" not in response.headers
    assert harness.count("sessions", "user_id IS NULL") == 0


# -- creating tokens ---------------------------------------------------------------


def test_creating_a_token_with_the_cookie_needs_a_csrf_token(signed_in, harness):
    response = create_token(signed_in, headers={}, status=400)
    assert_json_error(response, 400)
    response = create_token(signed_in, headers={"X-CSRF-Token": "forged"}, status=400)
    assert_json_error(response, 400)
    assert harness.count("api_tokens") == 0


def test_creating_a_token_returns_it_once_with_its_expiry(signed_in, harness):
    response = create_token(signed_in, "deploy", 7)
    body = response.json
    assert set(body) == TOKEN_KEYS
    assert body["name"] == "deploy"
    assert isinstance(body["id"], int)
    assert body["token"].startswith(PREFIX) and len(body["token"]) >= len(PREFIX) + 43
    expected = harness.clock.now() + timedelta(days=7)
    assert body["expires_at"] == expected.isoformat(timespec="seconds") + "Z"
    assert response.content_type == "application/json"


def test_tokens_are_stored_only_as_their_sha256(signed_in, harness):
    secrets = [create_token(signed_in, f"t{n}").json["token"] for n in range(2)]
    with harness.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).mappings().all()
    assert len(rows) == 2
    stored_hashes = {row["token_hash"] for row in rows}
    assert stored_hashes == {hashlib.sha256(s.encode()).hexdigest() for s in secrets}
    for row in rows:
        for value in row.values():
            for secret in secrets:
                assert secret[len(PREFIX):] not in str(value)


def test_two_tokens_are_different(signed_in):
    first = create_token(signed_in, "a").json["token"]
    second = create_token(signed_in, "b").json["token"]
    assert first != second


@pytest.mark.parametrize("days", [0, -1, 366, 10**12, "abc", "", 1.5, True, None, [1], {},
                                  "\u0663", "\u00b2", "\uff13", "1\u0663", "10" * 20])
def test_invalid_expires_in_days_is_422_json(signed_in, harness, days):
    response = create_token(signed_in, "ci", days, status=422)
    assert_json_error(response, 422)
    assert "expires_in_days" in response.json["error"]
    assert harness.count("api_tokens") == 0


@pytest.mark.parametrize("days", ["3", " 7 ", 3])
def test_expires_in_days_in_ascii_digits_is_accepted(signed_in, days):
    assert create_token(signed_in, "ci", days).status_int == 201


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, 123, None, ["ci"], {"a": 1}])
def test_invalid_name_is_422_json(signed_in, harness, name):
    response = create_token(signed_in, name, 30, status=422)
    assert_json_error(response, 422)
    assert "name" in response.json["error"]
    assert harness.count("api_tokens") == 0


def test_missing_name_is_422_json(signed_in, harness):
    response = signed_in.post_json("/api/tokens", {"expires_in_days": 3,
                                                   "current_password": PASSWORD},
                                   headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")},
                                   status=422)
    assert_json_error(response, 422)
    assert harness.count("api_tokens") == 0


@pytest.mark.parametrize("body", [b"{not json", b'{"name": "ci",', b"\xff\xfe", b"[1, 2"])
def test_malformed_json_is_400_json(signed_in, harness, secret, body):
    csrf = signed_in.csrf_token("/sessions")
    response = signed_in.post("/api/tokens", body, status=400, headers={
        "Content-Type": "application/json", "X-CSRF-Token": csrf})
    assert_json_error(response, 400)
    response = script(harness).post("/api/tokens", body, status=400, headers={
        "Content-Type": "application/json", **bearer(secret)})
    assert_json_error(response, 400)
    assert harness.count("api_tokens") == 1


def test_a_json_body_that_is_not_an_object_is_400_json(signed_in, harness):
    response = signed_in.post_json("/api/tokens", ["ci", 3], status=400,
                                   headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")})
    assert_json_error(response, 400)
    assert harness.count("api_tokens") == 0


def test_creating_a_token_anonymously_is_401(testapp, harness):
    testapp.get("/login")
    response = testapp.post_json("/api/tokens", {"name": "ci", "expires_in_days": 1},
                                 headers={"X-CSRF-Token": testapp.csrf_token("/login")},
                                 status=401)
    assert_json_error(response, 401)
    assert harness.count("api_tokens") == 0


# -- bearer tokens need no cookie and no CSRF token ----------------------------------


def test_a_write_token_deletes_tokens_without_cookie_or_csrf(harness, signed_in, writer):
    child = create_token(signed_in, "child").json
    client = script(harness)
    client.get("/api/me", headers=bearer(child["token"]), status=200)
    deleted = client.delete(f"/api/tokens/{child['id']}", headers=bearer(writer), status=204)
    no_cookie_sent(deleted)
    assert deleted.body == b""
    assert "Set-Cookie" not in deleted.headers
    client.get("/api/me", headers=bearer(child["token"]), status=401)
    client.get("/api/me", headers=bearer(writer), status=200)
    assert harness.count("sessions") == 1  # only the browser's, none for the script


# -- listing and deleting ---------------------------------------------------------------


def test_listing_tokens_shows_no_secret_or_hash(signed_in, harness, secret):
    other = create_token(signed_in, "second").json["token"]
    for response in (signed_in.get("/api/tokens", status=200),
                     script(harness).get("/api/tokens", headers=bearer(secret), status=200)):
        tokens = response.json["tokens"]
        assert [token["name"] for token in tokens] == ["ci", "second"]
        for token in tokens:
            assert "token" not in token and "token_hash" not in token
        for value in (secret, other):
            assert value not in response.text
            assert value[len(PREFIX):] not in response.text
            assert hashlib.sha256(value.encode()).hexdigest() not in response.text


def test_listing_shows_only_ones_own_tokens(signed_in, harness, secret):
    harness.make_user("bob")
    bobs = new_browser(harness, "198.51.100.20")
    bobs.login("bob")
    create_token(bobs, "bobs")
    assert [t["name"] for t in signed_in.get("/api/tokens").json["tokens"]] == ["ci"]
    assert [t["name"] for t in bobs.get("/api/tokens").json["tokens"]] == ["bobs"]


def test_deleting_a_token_stops_it_at_once(signed_in, harness, secret):
    client = script(harness)
    client.get("/api/me", headers=bearer(secret), status=200)
    token_id = signed_in.get("/api/tokens").json["tokens"][0]["id"]
    signed_in.delete(f"/api/tokens/{token_id}",
                     headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")}, status=204)
    response = client.get("/api/me", headers=bearer(secret), status=401)
    assert_json_error(response, 401)
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert signed_in.get("/api/tokens").json["tokens"][0]["revoked"] is True


def test_a_token_can_delete_itself(harness, signed_in, writer):
    client = script(harness)
    token_id = client.get("/api/tokens", headers=bearer(writer)).json["tokens"][0]["id"]
    client.delete(f"/api/tokens/{token_id}", headers=bearer(writer), status=204)
    client.get("/api/me", headers=bearer(writer), status=401)


def test_deleting_someone_elses_token_is_404_and_it_keeps_working(signed_in, harness):
    harness.make_user("bob")
    bobs = new_browser(harness, "198.51.100.20")
    bobs.login("bob")
    bobs_token = create_token(bobs, "bobs").json
    csrf = signed_in.csrf_token("/sessions")

    response = signed_in.delete(f"/api/tokens/{bobs_token['id']}",
                                headers={"X-CSRF-Token": csrf}, status=404)
    assert_json_error(response, 404)
    assert script(harness).get("/api/me", headers=bearer(bobs_token["token"])).json[
        "username"] == "bob"
    assert harness.count("api_tokens", "revoked_at IS NULL") == 1


@pytest.mark.parametrize("token_id", ["999999", "abc", "-1", "1e3", "99999999999999999999"])
def test_deleting_an_unknown_token_is_404_json(signed_in, secret, token_id):
    response = signed_in.delete(f"/api/tokens/{token_id}",
                                headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")},
                                status=404)
    assert_json_error(response, 404)


def test_deleting_with_the_cookie_needs_a_csrf_token(signed_in, harness, secret):
    token_id = signed_in.get("/api/tokens").json["tokens"][0]["id"]
    response = signed_in.delete(f"/api/tokens/{token_id}", status=400)
    assert_json_error(response, 400)
    script(harness).get("/api/me", headers=bearer(secret), status=200)


# -- expiry and epoch -------------------------------------------------------------------


def test_an_expired_token_is_401(signed_in, harness):
    secret = create_token(signed_in, "short", 2).json["token"]
    client = script(harness)
    harness.clock.advance(2 * 86400 - 1)
    client.get("/api/me", headers=bearer(secret), status=200)
    harness.clock.advance(2)
    response = client.get("/api/me", headers=bearer(secret), status=401)
    assert_json_error(response, 401)


def test_a_password_change_ends_earlier_tokens(signed_in, harness, secret):
    harness.clock.advance(1)
    signed_in.post("/password", {"current_password": PASSWORD,
                                 "new_password": "violet lantern under seven bridges",
                                 "csrf_token": signed_in.csrf_token("/password")}, status=303)
    script(harness).get("/api/me", headers=bearer(secret), status=401)


# -- a bad bearer token never falls back to the cookie ---------------------------------


def bad_bearers(harness: Any, signed_in: Browser) -> list[str]:
    """A malformed token, a well-formed unknown one, an empty one and a revoked one."""
    revoked = create_token(signed_in, "revoked").json
    signed_in.delete(f"/api/tokens/{revoked['id']}",
                     headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")}, status=204)
    return ["garbage", PREFIX + "A" * 43, "", revoked["token"]]


def test_bad_bearer_with_a_valid_cookie_is_401_on_the_api(signed_in, harness):
    signed_in.get("/api/me", status=200)
    for value in bad_bearers(harness, signed_in):
        response = signed_in.get("/api/me", headers=bearer(value), status=401)
        assert_json_error(response, 401)
        assert "alice" not in response.text
        assert response.request.headers.get("Cookie")  # the cookie was sent, and ignored


def test_bad_bearer_with_a_valid_cookie_does_not_get_the_signed_in_html_pages(
        signed_in, harness):
    for value in bad_bearers(harness, signed_in):
        for path in ("/profile", "/sessions", "/password"):
            response = signed_in.get(path, headers=bearer(value), status="*")
            assert response.status_int in (401, 303), (path, response.status)
            assert "alice" not in response.text
        home = signed_in.get("/", headers=bearer(value), status=200)
        assert "alice" not in home.text
    # The cookie itself is still good without the header.
    assert "alice" in signed_in.get("/profile", status=200).text


def test_bad_bearer_with_a_valid_cookie_cannot_change_anything(signed_in, harness):
    values = bad_bearers(harness, signed_in)
    live_before = harness.count("api_tokens", "revoked_at IS NULL")
    csrf = signed_in.csrf_token("/sessions")
    for value in values:
        headers = {**bearer(value), "X-CSRF-Token": csrf}
        signed_in.post_json("/api/tokens", {"name": "x", "expires_in_days": 1},
                            headers=headers, status=401)
        signed_in.post("/logout", {"csrf_token": csrf}, headers=headers, status=401)
        signed_in.post("/sessions/revoke-others",
                       {"current_password": PASSWORD, "csrf_token": csrf},
                       headers=headers, status=401)
    assert harness.count("api_tokens", "revoked_at IS NULL") == live_before
    assert harness.count("sessions") == 1
    assert "alice" in signed_in.get("/profile", status=200).text


def test_a_token_with_a_session_cookie_of_someone_else_acts_as_the_token_owner(
        signed_in, harness, secret):
    harness.make_user("bob")
    bobs = new_browser(harness, "198.51.100.20")
    bobs.login("bob")
    assert bobs.get("/api/me", headers=bearer(secret)).json["username"] == "alice"


def test_fields_beyond_name_expiry_and_scopes_are_ignored_when_creating_a_token(
        harness, signed_in, alice):
    bob = harness.make_user("bob")
    response = signed_in.post_json(
        "/api/tokens",
        {"name": "ci", "expires_in_days": 1, "current_password": PASSWORD,
         "user_id": bob, "id": 999,
         "revoked_at": "2020-01-01T00:00:00Z", "token": "chosen-by-the-client",
         "created_at": "2000-01-01T00:00:00Z", "last_used_at": "2000-01-01T00:00:00Z"},
        headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")}, status=201)
    created = response.json
    assert set(created) == TOKEN_KEYS
    assert created["token"] != "chosen-by-the-client" and created["id"] != 999
    # The token is alice's, live, and stamped by the server.
    assert script(harness).get("/api/me", headers=bearer(created["token"])).json["id"] == alice
    with harness.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT user_id, revoked_at, last_used_at, created_at FROM api_tokens WHERE id = :id"),
            {"id": created["id"]}).one()
    assert row.user_id == alice and row.revoked_at is None
    assert str(row.created_at)[:4] != "2000"
    assert harness.count("api_tokens", "user_id = :bob", bob=bob) == 0


def test_a_tokens_use_is_recorded_at_most_once_a_minute(signed_in, harness, secret):
    def last_used() -> Any:
        with harness.engine.connect() as connection:
            return connection.execute(text("SELECT last_used_at FROM api_tokens")).scalar_one()

    client = script(harness)
    assert last_used() is None
    client.get("/api/me", headers=bearer(secret), status=200)
    first = last_used()
    assert first is not None
    harness.sql.clear()
    harness.clock.advance(59)
    client.get("/api/me", headers=bearer(secret), status=200)
    assert harness.sql.writes == [] and last_used() == first
    harness.clock.advance(1)
    client.get("/api/me", headers=bearer(secret), status=200)
    assert len(harness.sql.writes) == 1 and last_used() > first


def test_a_refused_token_records_no_use(signed_in, harness, secret):
    harness.clock.advance(31 * 86400)
    harness.sql.clear()
    script(harness).get("/api/me", headers=bearer(secret), status=401)
    assert [s for s in harness.sql.writes if "api_tokens" in s] == []
