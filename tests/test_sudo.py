"""Sudo mode: sensitive actions need a proof of identity no older than
``auth.sudo_timeout``; ``/sudo`` renews it; a ``current_password`` sent is
judged whatever the sudo state; a stale request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, new_browser, signed_in_as
from mfa_helpers import code_at, enrol
from sqlalchemy import select

from sessapp.models import User
from sessapp.models.session_record import sessions_table

NEW_PASSWORD = "a different and long passphrase"


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def browser(testapp: Any, alice: int) -> Any:
    testapp.login("alice")
    return testapp


def expire_sudo(harness: Any) -> None:
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)


def password_hash(harness: Any, user_id: int) -> str:
    with harness.transaction() as dbsession:
        return dbsession.get(User, user_id).password_hash


def authenticated_at(harness: Any) -> Any:
    column = sessions_table.c.authenticated_at
    with harness.engine.connect() as connection:
        return connection.execute(
            select(column).where(sessions_table.c.user_id.is_not(None))).scalar_one()


def events(harness: Any, event: str) -> int:
    return harness.count("auth_events", "event = :event", event=event)


def change_password(browser: Any, current: str | None, *, status: int) -> Any:
    form = {"new_password": NEW_PASSWORD, "csrf_token": browser.csrf_token("/password")}
    if current is not None:
        form["current_password"] = current
    return browser.post("/password", form, status=status)


def test_signing_in_is_the_first_proof(harness, browser):
    assert authenticated_at(harness) == harness.clock.now()


def test_a_fresh_proof_lets_a_sensitive_action_through_without_the_password(
        harness, browser, alice):
    before = password_hash(harness, alice)
    change_password(browser, None, status=303)
    assert password_hash(harness, alice) != before
    # The rotated session keeps the proof (same user): still in sudo mode.
    assert authenticated_at(harness) is not None


def test_a_stale_proof_is_sent_to_sudo_and_changes_nothing(harness, browser, alice):
    before = password_hash(harness, alice)
    expire_sudo(harness)
    response = change_password(browser, None, status=303)
    assert response.location.endswith("/sudo?next=%2Fpassword")
    assert password_hash(harness, alice) == before
    # GET pages of sensitive actions come back to themselves, query included.
    response = browser.get("/mfa/totp?x=1", status=303)
    assert response.location.endswith("/sudo?next=%2Fmfa%2Ftotp%3Fx%3D1")


def test_the_timeout_is_the_setting(harness, browser, alice):
    before = password_hash(harness, alice)
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout - 1)
    response = change_password(browser, None, status=303)
    assert response.location.endswith("/profile")
    assert password_hash(harness, alice) != before


def test_a_right_current_password_is_the_proof_even_when_stale(harness, browser, alice):
    expire_sudo(harness)
    change_password(browser, PASSWORD, status=303)
    assert authenticated_at(harness) == harness.clock.now()
    # ... and renews sudo mode for what follows.
    browser.get("/mfa/totp", status=200)


def test_a_wrong_current_password_is_422_and_counted_even_in_sudo_mode(harness, browser, alice):
    before = password_hash(harness, alice)
    change_password(browser, "not my password", status=422)
    assert password_hash(harness, alice) == before
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1
    assert events(harness, "reauth_failure") == 1


def test_json_requests_get_403_naming_sudo(harness, browser):
    expire_sudo(harness)
    response = browser.post_json("/api/tokens", {"name": "ci", "expires_in_days": 1},
                                 headers={"X-CSRF-Token": browser.csrf_token("/profile")},
                                 status=403)
    assert response.json["sudo"] == "/sudo"
    assert response.json["error"]
    assert harness.count("api_tokens") == 0


@pytest.mark.parametrize("path", ["/sessions/revoke-others", "/mfa/recovery-codes",
                                  "/mfa/totp/disable", "/admin/revoke-all-sessions"])
def test_every_sensitive_post_is_guarded(harness, testapp, path):
    harness.make_user("root", admin=True)
    testapp.login("root")
    other = new_browser(harness, "198.51.100.3")
    other.login("root")
    token = testapp.csrf_token("/profile")
    expire_sudo(harness)
    response = testapp.post(path, {"csrf_token": token}, status=303)
    assert "/sudo?next=" in response.location
    assert signed_in_as(other) == "root"


def test_sudo_page_renews_with_the_password_and_goes_back(harness, browser):
    expire_sudo(harness)
    page = browser.get("/sudo?next=/password", status=200)
    assert page.html.find("input", {"name": "next"})["value"] == "/password"
    assert page.html.find(id="sudo-code") is None  # no TOTP: password only
    response = browser.post("/sudo", {"password": PASSWORD, "next": "/password",
                                      "csrf_token": browser.csrf_token("/profile")},
                            status=303)
    assert response.location.endswith("/password")
    assert events(harness, "sudo_granted") == 1
    change_password(browser, None, status=303)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sudo_goes_only_to_a_safe_next(harness, browser, target):
    response = browser.post("/sudo", {"password": PASSWORD, "next": target,
                                      "csrf_token": browser.csrf_token("/profile")},
                            status=303)
    assert response.location == "http://localhost/profile"


def test_a_wrong_sudo_password_is_422_counted_and_changes_nothing(harness, browser):
    expire_sudo(harness)
    response = browser.post("/sudo", {"password": "wrong", "next": "/password",
                                      "csrf_token": browser.csrf_token("/profile")},
                            status=422)
    assert response.html.find(id="sudo-password-error") is not None
    assert events(harness, "sudo_failure") == 1
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1
    change_password(browser, None, status=303)  # still stale: to /sudo


def test_sudo_failures_are_throttled(harness, browser, bcrypt_calls):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    token = browser.csrf_token("/profile")
    for _ in range(limit):
        browser.post("/sudo", {"password": "wrong", "csrf_token": token}, status=422)
    bcrypt_calls.reset()
    response = browser.post("/sudo", {"password": PASSWORD, "csrf_token": token}, status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert bcrypt_calls.checked == 0


def test_sudo_with_nothing_or_a_malformed_code_is_422_not_counted(harness, browser):
    token = browser.csrf_token("/profile")
    browser.post("/sudo", {"csrf_token": token}, status=422)
    browser.post("/sudo", {"code": "abc", "csrf_token": token}, status=422)
    assert harness.count("throttle_hits") == 0


def test_sudo_with_a_totp_code_once(harness, browser):
    secret, _codes = enrol(browser, harness)
    expire_sudo(harness)
    assert browser.get("/sudo").html.find(id="sudo-code") is not None
    code = code_at(secret, harness)
    token = browser.csrf_token("/profile")
    browser.post("/sudo", {"code": code, "csrf_token": token}, status=303)
    expire_sudo(harness)
    browser.post("/sudo", {"code": code, "csrf_token": token}, status=422)
    assert events(harness, "sudo_failure") == 1


def test_sudo_needs_a_signed_in_user(testapp):
    assert "/login?next=" in testapp.get("/sudo", status=303).location


def test_a_token_is_never_in_sudo_mode(harness, browser):
    secret = browser.post_json("/api/tokens", {"name": "ci", "expires_in_days": 1,
                                               "scopes": ["read", "write"]},
                               headers={"X-CSRF-Token": browser.csrf_token("/profile")},
                               status=201).json["token"]
    script = new_browser(harness, "198.51.100.77")
    script.post_json("/api/tokens", {"name": "again", "expires_in_days": 1},
                     headers={"Authorization": f"Bearer {secret}"}, status=403)
    assert harness.count("api_tokens") == 1


def test_an_admin_action_with_the_current_password_is_judged_by_it(harness, testapp):
    harness.make_user("root", admin=True)
    bob = harness.make_user("bob")
    testapp.login("root")
    token = testapp.csrf_token("/admin")
    expire_sudo(harness)
    testapp.post(f"/admin/users/{bob}/disable",
                 {"csrf_token": token, "current_password": "wrong"}, status=422)
    assert harness.count("users", "disabled = :d", d=True) == 0
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1
    testapp.post(f"/admin/users/{bob}/disable",
                 {"csrf_token": token, "current_password": PASSWORD}, status=303)
    assert harness.count("users", "disabled = :d", d=True) == 1


@pytest.mark.parametrize("path", ["/mfa/totp/disable", "/mfa/recovery-codes"])
def test_factor_changes_with_a_wrong_current_password_are_422(harness, browser, alice, path):
    enrol(browser, harness)
    expire_sudo(harness)
    token = browser.csrf_token("/profile")
    response = browser.post(path, {"csrf_token": token, "current_password": "wrong"},
                            status=422)
    assert response.html.find(id="current_password-error") is not None
    assert harness.count("recovery_codes", "used_at IS NULL") == 10
    assert events(harness, "mfa_totp_disabled") == 0
    assert events(harness, "mfa_recovery_codes_regenerated") == 0
    browser.post(path, {"csrf_token": token, "current_password": PASSWORD},
                 status=303 if path.endswith("disable") else 200)


def test_sudo_failures_count_toward_the_accounts_lock_for_strangers(harness, browser):
    """A stolen session cannot guess the password at /sudo past the lock the
    sign-in form imposes: its failures fill the account's budget, so a browser
    that never signed in to the account is then refused unchecked."""
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    token = browser.csrf_token("/profile")
    for _ in range(limit):
        browser.post("/sudo", {"password": "wrong", "csrf_token": token}, status=422)
    stranger = new_browser(harness)
    stranger.login("alice", status=429)
    # The session's own budget decides for the session: spent too, by its own failures.
    browser.post("/sudo", {"password": PASSWORD, "csrf_token": token}, status=429)


def test_other_clients_failures_never_block_the_sessions_own_proof(harness, browser):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    stranger = new_browser(harness)
    for _ in range(limit):
        stranger.login("alice", password="wrong", status=422)
    stranger.login("alice", status=429)
    token = browser.csrf_token("/profile")
    browser.post("/sudo", {"password": PASSWORD, "csrf_token": token}, status=303)
