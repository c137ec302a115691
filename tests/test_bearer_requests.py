"""A request that carries ``Authorization: Bearer`` is judged by that token alone,
on every route: it never reads or writes the cookie session, and a refused one
changes nothing (CONTRACT, JSON API)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import PASSWORD, Browser, new_browser, who_is_signed_in
from sqlalchemy import text

from sessapp.accounts import api_tokens
from sessapp.models import User
from sessapp.security.bearer import BearerRequestSession
from sessapp.security.policies import SessionSecurityPolicy

JUNK = "Bearer junk"
EVIL = "https://evil.example"
# Every route of sessapp/routes.py with each method it answers, and whether its
# views take bearer tokens for writes (the JSON API does).
ROUTES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "home": ("/", ("GET",), False),
    "login": ("/login", ("GET", "POST"), False),
    "login_mfa": ("/login/mfa", ("GET", "POST"), False),
    "sudo": ("/sudo", ("GET", "POST"), False),
    "mfa": ("/mfa", ("GET",), False),
    "mfa_totp": ("/mfa/totp", ("GET", "POST"), False),
    "mfa_totp_disable": ("/mfa/totp/disable", ("POST",), False),
    "mfa_recovery_codes": ("/mfa/recovery-codes", ("POST",), False),
    "mfa_passkey_options": ("/mfa/passkeys/options", ("POST",), False),
    "mfa_passkeys": ("/mfa/passkeys", ("POST",), False),
    "mfa_passkey_delete": ("/mfa/passkeys/1/delete", ("POST",), False),
    "login_passkey_options": ("/login/passkey/options", ("POST",), False),
    "login_passkey": ("/login/passkey", ("POST",), False),
    "login_mfa_passkey_options": ("/login/mfa/passkey/options", ("POST",), False),
    "login_mfa_passkey": ("/login/mfa/passkey", ("POST",), False),
    "sudo_passkey_options": ("/sudo/passkey/options", ("POST",), False),
    "sudo_passkey": ("/sudo/passkey", ("POST",), False),
    "logout": ("/logout", ("GET", "POST"), False),
    "register": ("/register", ("GET", "POST"), False),
    "profile": ("/profile", ("GET",), False),
    "password": ("/password", ("GET", "POST"), False),
    "password_forgot": ("/password/forgot", ("GET", "POST"), False),
    "password_reset": ("/password/reset/{token}", ("GET", "POST"), False),
    "email": ("/email", ("GET", "POST"), False),
    "email_verify": ("/email/verify/{token}", ("GET", "POST"), False),
    "email_undo": ("/email/undo/{token}", ("GET", "POST"), False),
    "session_end": ("/session-end/{token}", ("GET", "POST"), False),
    "sessions": ("/sessions", ("GET",), False),
    "sessions_revoke_others": ("/sessions/revoke-others", ("POST",), False),
    "session_revoke": ("/sessions/{public_id}/revoke", ("POST",), False),
    "token_create": ("/tokens", ("POST",), False),
    "token_revoke": ("/tokens/{token_id}/revoke", ("POST",), False),
    "admin": ("/admin", ("GET",), False),
    "admin_revoke_everyone": ("/admin/revoke-all-sessions", ("POST",), False),
    "admin_user_action": ("/admin/users/{bob}/disable", ("POST",), False),
    "admin_revoke_everyone_confirm": ("/admin/revoke-all-sessions/confirm", ("GET",), False),
    "admin_user_confirm": ("/admin/users/{bob}/disable/confirm", ("GET",), False),
    "session_data": ("/session-data", ("GET", "POST"), False),
    "cookies": ("/cookies", ("GET",), False),
    "theme": ("/preferences/theme", ("POST",), False),
    "language": ("/preferences/language", ("POST",), False),
    "healthz": ("/healthz", ("GET",), False),
    "api_me": ("/api/me", ("GET",), False),
    "api_tokens": ("/api/tokens", ("GET", "POST"), True),
    "api_token": ("/api/tokens/{token_id}", ("DELETE",), True),
}


def form(csrf: str) -> dict[str, str]:
    """Fields that would make each form succeed for a signed-in alice."""
    return {"csrf_token": csrf, "username": "alice", "password": PASSWORD,
            "current_password": PASSWORD, "new_password": "a brand new passphrase",
            "key": "k", "value": "planted", "theme": "dark", "language": "de", "name": "t",
            "expires_in_days": "1"}


def snapshot(harness: Any) -> dict[str, list[Any]]:
    with harness.engine.connect() as connection:
        return {table: [tuple(row) for row in connection.execute(
                    text(f"SELECT * FROM {table} ORDER BY 1"))]
                for table in ("sessions", "users")}


@pytest.fixture
def world(harness: Any) -> dict[str, Any]:
    alice = harness.make_user("alice", admin=True)
    bob = harness.make_user("bob")
    with harness.transaction() as dbsession:
        owner = dbsession.get(User, alice)
        _, secret = api_tokens.create(dbsession, owner, "script", 1, harness.clock.now(),
                                      ["read", "write"])
        spare, _ = api_tokens.create(dbsession, owner, "spare", 1, harness.clock.now(),
                                     ["read"])
        spare_id = spare.id
    signed_in = new_browser(harness, "198.51.100.1")
    signed_in.login("alice")
    signed_in.post("/session-data", {"key": "mine", "value": "kept",
                                     "csrf_token": signed_in.csrf_token("/profile")})
    anonymous = new_browser(harness, "198.51.100.2")
    return {"alice": alice, "bob": bob, "secret": secret, "spare": spare_id,
            "signed_in": signed_in, "anonymous": anonymous}


def test_the_table_lists_every_route(harness):
    introspector = harness.registry.introspector
    names = {entry["introspectable"]["name"] for entry in introspector.get_category("routes")}
    assert names - {"__static/"} == set(ROUTES)


@pytest.mark.parametrize("which", ["junk", "valid"])
@pytest.mark.parametrize("client", ["anonymous", "signed_in"])
def test_every_route_with_a_bearer_header_leaves_the_cookie_session_alone(
        harness, world, which, client):
    browser: Browser = world[client]
    csrf = browser.csrf_token("/profile" if client == "signed_in" else "/login")
    authorization = JUNK if which == "junk" else f"Bearer {world['secret']}"
    headers = {"Authorization": authorization, "Origin": EVIL, "X-CSRF-Token": csrf}
    public_id = harness.count("sessions") and _public_id(harness)
    before = snapshot(harness)
    live_tokens = harness.count("api_tokens", "revoked_at IS NULL")
    for pattern, methods, takes_bearer in ROUTES.values():
        path = pattern.format(public_id=public_id, bob=world["bob"], token_id=world["spare"],
                              token="A" * 43)
        for method in methods:
            response = browser.request(path, method=method, headers=headers, status="*",
                                       POST=form(csrf) if method != "GET" else None)
            where = f"{method} {path} ({which} token, {client})"
            assert response.status_int < 500, where
            assert "Set-Cookie" not in response.headers, where
            if method != "GET" and not takes_bearer:
                # A valid token is outside every browser page's scope: 403.
                refusals = (400, 401) if which == "junk" else (400, 401, 403)
                assert response.status_int in refusals, where
            assert snapshot(harness) == before, where
    if which == "junk":
        assert harness.count("api_tokens", "revoked_at IS NULL") == live_tokens
    # Without the header, the browser's cookie session is as it was.
    assert who_is_signed_in(browser) == ("alice" if client == "signed_in" else None)
    if client == "signed_in":
        assert browser.get("/session-data").json == {"mine": "kept"}


def _public_id(harness: Any) -> str:
    with harness.engine.connect() as connection:
        return connection.execute(text("SELECT public_id FROM sessions")).scalar_one()


def test_junk_bearer_login_from_another_origin_signs_nobody_in(harness, world):
    """The review's finding: no CSRF token, a hostile Origin, a junk token."""
    client = world["anonymous"]
    response = client.post("/login", {"username": "alice", "password": PASSWORD},
                           headers={"Authorization": JUNK, "Origin": EVIL}, status="*")
    assert response.status_int in (400, 401)
    assert "Set-Cookie" not in response.headers
    assert harness.count("sessions") == 1  # alice's own browser's
    assert who_is_signed_in(client) is None


def test_junk_bearer_session_data_writes_no_session(harness, world):
    client = world["anonymous"]
    client.post("/session-data", {"key": "k", "value": "v"},
                headers={"Authorization": JUNK}, status=400)
    assert harness.count("sessions") == 1
    assert client.get("/session-data").json == {}


def test_a_bearer_request_never_reads_the_cookie_session(harness, world):
    browser = world["signed_in"]
    harness.sql.clear()
    for authorization in (JUNK, f"Bearer {world['secret']}"):
        assert browser.get("/session-data", headers={"Authorization": authorization}).json == {}
        page = browser.get("/", headers={"Authorization": authorization})
        assert "Set-Cookie" not in page.headers
    touching = [s for s in harness.sql.statements
                if re.search(r"\b(FROM|INTO|UPDATE|JOIN)\s+sessions\b", s, re.I)]
    assert not touching, touching
    assert browser.get("/session-data").json == {"mine": "kept"}


def test_the_bearer_session_is_empty_unstored_and_signs_nobody_in(harness, world):
    session = BearerRequestSession(harness.clock.now())
    session["x"] = 1
    session.flash("hello")
    assert session.pop_flash() == ["hello"]
    session.rotate(identity=object())
    assert dict(session) == {} and session.identity is None and not session.is_stored

    class Request:
        pass

    request = Request()
    request.session = session
    assert SessionSecurityPolicy().identity(request) is None


def test_api_writes_still_take_bearer_tokens(harness, world):
    client = new_browser(harness, "198.51.100.4")
    headers = {"Authorization": f"Bearer {world['secret']}"}
    client.delete(f"/api/tokens/{world['spare']}", headers=headers, status=204)
    assert harness.count("api_tokens", "revoked_at IS NULL") == 1
    assert harness.count("sessions") == 1


# -- what a client without credentials can store ------------------------------------


def refusals(client: Browser, count: int) -> None:
    for number in range(count):
        headers = {"Authorization": f"Bearer junk{number}"}
        [client.get("/api/me", headers=headers, status=401),
         client.post("/login", {"username": "alice", "password": "x"},
                     headers=headers, status=400),
         client.post("/logout", headers=headers, status=401),
         client.get("/profile", headers=headers, status=401)][number % 4]


def table_counts(harness: Any) -> dict[str, int]:
    return {table: harness.count(table)
            for table in ("auth_events", "throttle_hits", "sessions", "users", "api_tokens")}


def test_bogus_requests_store_at_most_the_allowance_per_ip(harness, caplog):
    allowance = 20  # auth.refusals_stored_per_ip's documented default
    client = new_browser(harness, "203.0.113.50")
    before = table_counts(harness)
    with caplog.at_level(logging.WARNING, logger="sessapp.audit"):
        refusals(client, allowance * 4)
    after = table_counts(harness)
    assert after["auth_events"] - before["auth_events"] == allowance
    for table in ("throttle_hits", "sessions", "users", "api_tokens"):
        assert after[table] - before[table] <= allowance, table
    # Every refusal is still logged.
    audit_lines = [r for r in caplog.records if r.name == "sessapp.audit"]
    assert len(audit_lines) >= allowance * 4
    # Small: well below /admin's list of 50 recent events.
    assert harness.registry.sessapp_settings.auth.refusals_stored_per_ip == allowance


def test_the_allowance_is_per_ip_and_per_window(make_harness):
    harness = make_harness(**{"auth.refusals_stored_per_ip": "3"})
    refusals(new_browser(harness, "203.0.113.51"), 10)
    assert harness.count("auth_events") == 3
    refusals(new_browser(harness, "203.0.113.52"), 10)
    assert harness.count("auth_events") == 6
    harness.clock.current += timedelta(seconds=901)
    refusals(new_browser(harness, "203.0.113.51"), 10)
    assert harness.count("auth_events") == 9


def test_an_allowance_of_zero_stores_no_refusal(make_harness):
    harness = make_harness(**{"auth.refusals_stored_per_ip": "0"})
    refusals(new_browser(harness, "203.0.113.53"), 8)
    assert harness.count("auth_events") == 0
    assert harness.count("throttle_hits") == 0


def test_pages_for_a_bearer_request_set_no_csrf_cookie(harness):
    client = new_browser(harness)
    for path in ("/login", "/register", "/", "/logout"):
        page = client.get(path, headers={"Authorization": JUNK})
        assert "Set-Cookie" not in page.headers, path
    assert dict(client.cookies) == {}
