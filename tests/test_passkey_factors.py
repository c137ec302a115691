"""Passkeys among the second factors: sudo mode guards adding and removing
them, a passkey is the second step after the password, renews sudo mode, is
reset by an admin, and lets a role that must have a factor enrol."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Browser, new_browser, signed_in_as, who_is_signed_in
from mfa_helpers import password_step
from soft_authenticator import SoftAuthenticator, unb64url
from test_passkeys import add_passkey, events, register, registration_options


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def authenticator(harness: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=harness.registry.sessapp_settings.origin)


@pytest.fixture
def with_passkey(harness, testapp, alice, authenticator) -> SoftAuthenticator:
    testapp.login()
    register(testapp, authenticator)
    testapp.logout()
    return authenticator


def stale_sudo(harness: Any) -> None:
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)


def half_token(browser: Browser) -> dict[str, str]:
    return {"X-CSRF-Token": browser.csrf_token("/login")}


def second_factor_options(browser: Browser, status: int = 200) -> Any:
    return browser.post_json("/login/mfa/passkey/options", {}, headers=half_token(browser),
                             status=status)


def second_factor(browser: Browser, assertion: Any, status: int = 200) -> Any:
    return browser.post_json("/login/mfa/passkey", assertion, headers=half_token(browser),
                             status=status)


# -- sudo mode guards the changes -----------------------------------------------------


def test_adding_a_passkey_needs_a_recent_proof(harness, testapp, alice, authenticator):
    testapp.login()
    options = registration_options(testapp).json
    stale_sudo(harness)
    response = registration_options(testapp, status=403)
    assert response.json["sudo"] == "/sudo"
    response = add_passkey(testapp, authenticator.create(options), status=403)
    assert response.json["sudo"] == "/sudo"
    assert harness.count("passkeys") == 0


def test_removing_a_passkey_needs_a_recent_proof(harness, testapp, alice, authenticator):
    testapp.login()
    created = register(testapp, authenticator)
    stale_sudo(harness)
    response = testapp.post(f"/mfa/passkeys/{created['id']}/delete",
                            {"csrf_token": testapp.csrf_token("/mfa")}, status=303)
    assert response.location.endswith("/sudo?next=%2Fmfa")
    assert harness.count("passkeys") == 1


def test_the_mfa_page_lists_passkeys_with_added_and_last_used(harness, testapp, alice,
                                                              authenticator):
    testapp.login()
    register(testapp, authenticator, "Work laptop")
    page = testapp.get("/mfa")
    row = page.html.select_one("table.passkeys tbody tr")
    cells = [cell.get_text(" ", strip=True) for cell in row.find_all("td")]
    assert cells[0] == "Work laptop"
    assert cells[1] == "just now"
    assert cells[2] == "never"
    assert page.html.find(id="passkey-register").get_text(strip=True) == "Add a passkey"
    assert page.html.find("script", src="/static/passkeys.js") is not None


# -- the second step of signing in ----------------------------------------------------


def test_a_passkey_makes_the_password_only_half_a_sign_in(harness, testapp, with_passkey):
    password_step(testapp)
    assert who_is_signed_in(testapp) is None
    page = testapp.get("/login/mfa")
    assert page.html.find(id="passkey-verify").get_text(strip=True) == "Use a passkey"


def test_password_then_passkey_signs_in_with_a_new_session_id(harness, testapp,
                                                               with_passkey):
    password_step(testapp, next="/sessions")
    half = testapp.session_token
    options = second_factor_options(testapp).json
    assert [unb64url(item["id"]) for item in options["allowCredentials"]] == list(
        with_passkey.credentials)
    assert options["userVerification"] == "preferred"
    response = second_factor(testapp, with_passkey.get(options, uv=False))
    assert response.json == {"location": "/sessions"}
    assert signed_in_as(testapp) == "alice"
    assert testapp.session_token != half


def test_without_a_half_sign_in_the_passkey_step_sends_back_to_login(harness, testapp,
                                                                      with_passkey):
    token = {"X-CSRF-Token": testapp.csrf_token("/login")}
    response = testapp.post_json("/login/mfa/passkey/options", {}, headers=token, status=400)
    assert response.json["location"] == "/login"


def test_the_half_sign_in_still_dies_after_five_minutes(harness, testapp, with_passkey):
    password_step(testapp)
    options = second_factor_options(testapp).json
    harness.clock.advance(5 * 60 + 1)
    second_factor(testapp, with_passkey.get(options), status=400)
    assert who_is_signed_in(testapp) is None


def test_someone_elses_passkey_is_no_second_factor(harness, testapp, with_passkey):
    harness.make_user("bob")
    bob = new_browser(harness, "198.51.100.7")
    bob.login("bob")
    bobs = SoftAuthenticator(origin=with_passkey.origin)
    register(bob, bobs)
    password_step(testapp)
    options = second_factor_options(testapp).json
    # Bob's authenticator answers alice's challenge with bob's own passkey.
    forged = bobs.get({**options, "allowCredentials": []})
    second_factor(testapp, forged, status=400)
    assert who_is_signed_in(testapp) is None
    assert events(harness, "mfa_failure") == 1


def test_wrong_passkey_answers_are_counted_and_throttled(harness, with_passkey):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    stranger = new_browser(harness, "203.0.113.5")  # no device cookie of alice's
    password_step(stranger)
    for _ in range(limit):
        options = second_factor_options(stranger).json
        second_factor(stranger, with_passkey.get(options, origin="https://evil.example"),
                      status=400)
    assert events(harness, "mfa_failure") == limit
    assert harness.count("throttle_hits", "scope = 'login_account'") == limit
    options = second_factor_options(stranger).json
    response = second_factor(stranger, with_passkey.get(options), status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert who_is_signed_in(stranger) is None


# -- sudo mode renewed with a passkey -----------------------------------------------------


def sudo_options(browser: Browser, status: int = 200) -> Any:
    return browser.post_json("/sudo/passkey/options", {},
                             headers={"X-CSRF-Token": browser.csrf_token("/sudo")},
                             status=status)


def sudo_with(browser: Browser, assertion: Any, status: int = 200) -> Any:
    return browser.post_json("/sudo/passkey?next=/mfa", assertion,
                             headers={"X-CSRF-Token": browser.csrf_token("/sudo")},
                             status=status)


@pytest.fixture
def signed_in_with_passkey(harness, testapp, with_passkey) -> Browser:
    options = testapp.post_json("/login/passkey/options", {}, headers={
        "X-CSRF-Token": testapp.csrf_token("/login")}).json
    testapp.post_json("/login/passkey", with_passkey.get(options),
                      headers={"X-CSRF-Token": testapp.csrf_token("/login")})
    return testapp


def test_a_passkey_renews_sudo_mode(harness, signed_in_with_passkey, with_passkey):
    browser = signed_in_with_passkey
    stale_sudo(harness)
    registration_options(browser, status=403)
    page = browser.get("/sudo")
    assert page.html.find(id="passkey-verify").get_text(strip=True) == "Confirm with a passkey"
    response = sudo_with(browser, with_passkey.get(sudo_options(browser).json))
    assert response.json == {"location": "/mfa"}
    assert events(harness, "sudo_granted") == 1
    registration_options(browser)


def test_a_refused_passkey_does_not_renew_sudo_mode(harness, signed_in_with_passkey,
                                                    with_passkey):
    browser = signed_in_with_passkey
    stale_sudo(harness)
    options = sudo_options(browser).json
    sudo_with(browser, with_passkey.get(options, rp_id="evil.example"), status=400)
    assert events(harness, "sudo_failure") == 1
    # The challenge is spent: the right answer to it comes too late.
    sudo_with(browser, with_passkey.get(options), status=400)
    registration_options(browser, status=403)


def test_without_a_passkey_there_is_no_passkey_sudo(harness, testapp, alice):
    testapp.login()
    assert testapp.get("/sudo").html.find(id="passkey-verify") is None
    sudo_options(testapp, status=404)


# -- an admin's reset, and roles that must have a factor ------------------------------------


def test_an_admin_reset_removes_the_passkeys_too(harness, testapp, alice, with_passkey):
    harness.make_user("root", admin=True)
    root = new_browser(harness, "198.51.100.9")
    root.login("root")
    root.post(f"/admin/users/{alice}/reset-mfa", {"csrf_token": root.csrf_token("/admin")},
              status=303)
    assert harness.count("passkeys") == 0
    assert harness.count("users", "passkey_count = 0") == 2
    assert testapp.login().location.endswith("/profile")


def test_a_role_that_must_have_a_factor_may_enrol_with_a_passkey(make_harness):
    strict = make_harness(**{"auth.mfa.required_roles": "admin"})
    strict.make_user("root", admin=True)
    root = new_browser(strict)
    assert root.login("root").location.endswith("/mfa/totp")
    assert root.get("/admin", status=303).location.endswith("/mfa/totp")
    register(root, SoftAuthenticator(origin=strict.registry.sessapp_settings.origin))
    root.get("/admin", status=200)
