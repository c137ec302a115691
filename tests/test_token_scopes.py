"""API tokens cannot outlive what a user relies on: making one needs the
password and never a token; a token does only what its scopes allow, through
the same ACL as everything else; and every way of ending sessions can end
tokens too (the account's "log out everywhere else", the admin, the shell)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, Browser, new_browser
from sqlalchemy import text

from sessapp.models import User

# -- helpers ----------------------------------------------------------------


def script(harness: Any) -> Browser:
    return Browser(harness.app, extra_environ={"HTTP_HOST": "localhost",
                                               "REMOTE_ADDR": "192.0.2.200"})


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf(browser: Browser) -> dict[str, str]:
    return {"X-CSRF-Token": browser.csrf_token("/sessions")}


def make_token(browser: Browser, *, status: int = 201, **body: Any) -> Any:
    """POST /api/tokens with the cookie; ``body`` fills in name, lifetime and
    the current password unless given (``current_password=None`` drops it)."""
    sent = {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD, **body}
    sent = {key: value for key, value in sent.items() if value is not None}
    return browser.post_json("/api/tokens", sent, headers=csrf(browser), status=status)


def me_status(harness: Any, secret: str) -> int:
    return script(harness).get("/api/me", headers=bearer(secret), status="*").status_int


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_int == status
    assert response.content_type == "application/json"
    assert isinstance(response.json["error"], str) and response.json["error"]


def events(harness: Any, event: str) -> int:
    return harness.count("auth_events", "event = :event", event=event)


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def browser(testapp: Browser, alice: int) -> Browser:
    testapp.login("alice")
    return testapp


# -- 1. making a token needs proof of identity, and never a token ---------------------


def test_a_stolen_cookie_without_the_password_cannot_make_a_token(browser, harness):
    """Outside sudo mode (the sign-in is older than auth.sudo_timeout)."""
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
    response = make_token(browser, current_password=None, status=403)
    assert_json_error(response, 403)
    assert "current_password" in response.json["error"]
    assert response.json["sudo"] == "/sudo"
    assert harness.count("api_tokens") == 0
    # Nothing was checked, so nothing was counted.
    assert harness.count("throttle_hits", "scope IN ('login_account', 'reauth_session')") == 0


def test_a_wrong_current_password_makes_no_token_and_is_counted(browser, harness):
    response = make_token(browser, current_password="not my password", status=422)
    assert_json_error(response, 422)
    assert harness.count("api_tokens") == 0
    assert events(harness, "reauth_failure") == 1
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1


def test_wrong_current_passwords_are_throttled_like_sign_ins(browser, harness, bcrypt_calls):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for _ in range(limit):
        make_token(browser, current_password="not my password", status=422)
    bcrypt_calls.reset()
    response = make_token(browser, status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert bcrypt_calls.checked == 0
    assert harness.count("api_tokens") == 0


def test_the_right_current_password_makes_the_token(browser, harness):
    make_token(browser, status=201)
    assert harness.count("api_tokens") == 1


@pytest.mark.parametrize("scopes", [["read"], ["read", "write"]])
def test_a_token_can_never_make_tokens_whatever_its_scopes(browser, harness, scopes):
    secret = make_token(browser, scopes=scopes).json["token"]
    response = script(harness).post_json(
        "/api/tokens", {"name": "child", "expires_in_days": 1, "current_password": PASSWORD},
        headers=bearer(secret), status=403)
    assert_json_error(response, 403)
    assert "cannot make tokens" in response.json["error"]
    assert harness.count("api_tokens") == 1


def test_an_admin_token_cannot_make_tokens_either(testapp, harness):
    harness.make_user("root", admin=True)
    testapp.login("root")
    secret = make_token(testapp, scopes=["read", "write", "admin"]).json["token"]
    script(harness).post_json(
        "/api/tokens", {"name": "child", "expires_in_days": 1, "current_password": PASSWORD},
        headers=bearer(secret), status=403)
    response = script(harness).post(
        "/tokens", {"name": "child", "expires_in_days": "1", "current_password": PASSWORD},
        headers=bearer(secret), status=403)
    assert "sessapp_" not in response.text
    assert harness.count("api_tokens") == 1


# -- 2. scopes -------------------------------------------------------------------------


def test_the_default_scope_is_read_and_the_answer_says_so(browser):
    assert make_token(browser).json["scopes"] == ["read"]


def test_scopes_are_returned_in_their_order_without_duplicates(browser):
    body = make_token(browser, scopes=["write", "read", "write"]).json
    assert body["scopes"] == ["read", "write"]


def test_listing_tokens_shows_their_scopes(browser):
    make_token(browser, name="reader")
    make_token(browser, name="writer", scopes=["read", "write"])
    listed = browser.get("/api/tokens").json["tokens"]
    assert {token["name"]: token["scopes"] for token in listed} == {
        "reader": ["read"], "writer": ["read", "write"]}


@pytest.mark.parametrize("scopes", [[], ["delete"], "read", ["read", 1], {"read": True},
                                    [["read"]], ["READ"]])
def test_bad_scopes_are_422_and_make_nothing(browser, harness, scopes):
    response = make_token(browser, scopes=scopes, status=422)
    assert_json_error(response, 422)
    assert "scope" in response.json["error"]
    assert harness.count("api_tokens") == 0


def test_a_non_admin_cannot_ask_for_the_admin_scope(browser, harness):
    response = make_token(browser, scopes=["read", "admin"], status=422)
    assert "admin" in response.json["error"]
    assert harness.count("api_tokens") == 0


def test_a_read_token_reads_but_cannot_delete_tokens(browser, harness):
    reader = make_token(browser, name="reader").json
    other = make_token(browser, name="other").json
    client = script(harness)
    client.get("/api/me", headers=bearer(reader["token"]), status=200)
    client.get("/api/tokens", headers=bearer(reader["token"]), status=200)
    for token_id in (other["id"], reader["id"]):
        response = client.delete(f"/api/tokens/{token_id}", headers=bearer(reader["token"]),
                                 status=403)
        assert_json_error(response, 403)
        assert "write scope" in response.json["error"]
    assert harness.count("api_tokens", "revoked_at IS NULL") == 2
    assert me_status(harness, other["token"]) == 200


def test_a_write_token_can_delete_tokens(browser, harness):
    writer = make_token(browser, name="writer", scopes=["write"]).json
    other = make_token(browser, name="other").json
    assert writer["scopes"] == ["write"]
    client = script(harness)
    client.get("/api/me", headers=bearer(writer["token"]), status=200)  # write also reads
    client.delete(f"/api/tokens/{other['id']}", headers=bearer(writer["token"]), status=204)
    assert me_status(harness, other["token"]) == 401


def test_no_token_reaches_the_browser_pages(browser, harness):
    """The account pages (and the sessions page's token forms) are a browser's:
    a token, however scoped, is refused there, so a read token cannot revoke
    tokens or end sessions through them."""
    writer = make_token(browser, name="writer", scopes=["read", "write"]).json
    other = make_token(browser, name="other").json
    client = script(harness)
    client.get("/profile", headers=bearer(writer["token"]), status=403)
    client.post(f"/tokens/{other['id']}/revoke", headers=bearer(writer["token"]), status=403)
    assert me_status(harness, other["token"]) == 200


def test_an_admin_token_reaches_the_admin_pages_and_a_read_token_of_an_admin_does_not(
        testapp, harness):
    harness.make_user("root", admin=True)
    testapp.login("root")
    admin_token = make_token(testapp, name="adm", scopes=["admin"]).json
    assert admin_token["scopes"] == ["admin"]
    reader = make_token(testapp, name="reader").json["token"]
    client = script(harness)
    client.get("/admin", headers=bearer(admin_token["token"]), status=200)
    client.get("/admin", headers=bearer(reader), status=403)


def test_an_admin_token_of_a_former_admin_is_no_admin_token(testapp, harness):
    root = harness.make_user("root", admin=True)
    testapp.login("root")
    secret = make_token(testapp, scopes=["read", "admin"]).json["token"]
    with harness.transaction() as dbsession:
        dbsession.get(User, root).roles = []
    client = script(harness)
    client.get("/admin", headers=bearer(secret), status=403)
    client.get("/api/me", headers=bearer(secret), status=200)


def test_a_scoped_bearer_request_is_one_query(browser, harness):
    """Scopes ride on the token row the bearer load already reads."""
    secret = make_token(browser).json["token"]
    client = script(harness)
    client.get("/api/me", headers=bearer(secret), status=200)  # last_used_at written once
    for path, method, status in (("/api/me", "GET", 200), ("/api/tokens/1", "DELETE", 403)):
        harness.sql.clear()
        client.request(path, method=method, headers=bearer(secret), status=status)
        selects = [s for s in harness.sql.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1, (path, harness.sql.statements)
    harness.sql.clear()
    client.get("/api/tokens", headers=bearer(secret), status=200)
    assert harness.sql.writes == []


# -- 3. the sessions page lists, makes and revokes tokens --------------------------------


def post_token_form(browser: Browser, *, status: int = 201, **fields: Any) -> Any:
    form = {"name": "laptop", "expires_in_days": "7", "current_password": PASSWORD,
            "csrf_token": browser.csrf_token("/sessions"), **fields}
    return browser.post("/tokens", form, status=status)


def test_the_sessions_page_makes_a_token_and_shows_its_secret_once(browser, harness):
    page = post_token_form(browser, scopes=["read", "write"])
    secret = page.html.find(id="new-token").get_text(strip=True)
    assert secret.startswith("sessapp_")
    assert me_status(harness, secret) == 200
    row = page.html.find("table", class_="tokens").find("tbody").find("tr")
    assert row.find("td", class_="scopes").get_text(strip=True) == "read write"
    # Shown on that response only: not on the next page, nowhere in the session store.
    assert secret not in browser.get("/sessions").text
    with harness.engine.connect() as connection:
        stored = connection.execute(text("SELECT data FROM sessions")).scalars().all()
    assert not any(secret[len("sessapp_"):] in (data or "") for data in stored)


def test_the_sessions_page_needs_the_current_password_outside_sudo_mode(browser, harness):
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
    stale = post_token_form(browser, current_password="", status=303)
    assert stale.location.endswith("/sudo?next=%2Fsessions")
    page = post_token_form(browser, current_password="wrong", status=422)
    assert page.html.find(id="token-password-error") is not None
    assert harness.count("api_tokens") == 0


def test_the_sessions_page_offers_the_admin_scope_to_admins_only(browser, testapp, harness):
    assert browser.get("/sessions").html.find("input", {"value": "admin"}) is None
    post_token_form(browser, scopes=["admin"], status=422)
    assert harness.count("api_tokens") == 0
    harness.make_user("root", admin=True)
    root = new_browser(harness, "198.51.100.7")
    root.login("root")
    assert root.get("/sessions").html.find("input", {"value": "admin"}) is not None


def test_revoking_a_token_on_the_sessions_page(browser, harness):
    token = make_token(browser).json
    response = browser.post(f"/tokens/{token['id']}/revoke",
                            {"csrf_token": browser.csrf_token("/sessions")}, status=303)
    assert response.location.endswith("/sessions")
    assert me_status(harness, token["token"]) == 401
    assert events(harness, "api_token_revoked") == 1


def test_revoking_someone_elses_token_on_the_sessions_page_is_404(browser, harness):
    harness.make_user("bob")
    bobs = new_browser(harness, "198.51.100.20")
    bobs.login("bob")
    bobs_token = make_token(bobs).json
    for token_id in (bobs_token["id"], "999999", "abc"):
        browser.post(f"/tokens/{token_id}/revoke",
                     {"csrf_token": browser.csrf_token("/sessions")}, status=404)
    assert me_status(harness, bobs_token["token"]) == 200
    bobs.post(f"/tokens/{bobs_token['id']}/revoke",
              {"csrf_token": bobs.csrf_token("/sessions")}, status=303)
    assert me_status(harness, bobs_token["token"]) == 401


def test_revoking_on_the_sessions_page_needs_a_csrf_token(browser, harness):
    token = make_token(browser).json
    browser.post(f"/tokens/{token['id']}/revoke", {}, status=400)
    assert me_status(harness, token["token"]) == 200


# -- 4. ending sessions ends tokens ------------------------------------------------------


def revoke_others(browser: Browser, **extra: str) -> Any:
    return browser.post("/sessions/revoke-others",
                        {"current_password": PASSWORD,
                         "csrf_token": browser.csrf_token("/sessions"), **extra}, status=303)


def test_log_out_everywhere_else_with_revoke_tokens_kills_every_token(browser, harness):
    secrets = [make_token(browser, name=f"t{n}").json["token"] for n in range(2)]
    revoke_others(browser, revoke_tokens="on")
    for secret in secrets:
        response = script(harness).get("/api/me", headers=bearer(secret), status=401)
        assert_json_error(response, 401)
    assert events(harness, "api_tokens_revoked_all") == 1
    browser.get("/profile", status=200)  # this session stays


def test_log_out_everywhere_else_without_the_box_keeps_tokens(browser, harness):
    secret = make_token(browser).json["token"]
    revoke_others(browser)
    assert me_status(harness, secret) == 200


def test_the_sessions_page_offers_the_revoke_tokens_box(browser, harness):
    new_browser(harness, "198.51.100.9").login("alice")  # the form needs another session
    form = browser.get("/sessions").html.find(
        "form", action=lambda a: a and a.endswith("/sessions/revoke-others"))
    box = form.find("input", {"name": "revoke_tokens"})
    assert box is not None and box["type"] == "checkbox" and box["value"] == "on"


def test_an_admin_ending_a_users_sessions_ends_their_tokens(browser, harness, alice):
    secret = make_token(browser).json["token"]
    harness.make_user("root", admin=True)
    admin = new_browser(harness, "198.51.100.7")
    admin.login("root")
    admin.post(f"/admin/users/{alice}/revoke-sessions",
               {"csrf_token": admin.csrf_token("/profile")}, status=303)
    assert me_status(harness, secret) == 401
    assert harness.count("api_tokens", "revoked_at IS NULL") == 0
