"""Throttling that an attacker cannot hold: whoever guesses an account's password
locks it only for browsers that have never signed in to it. The owner's browser
(its device cookie) and the owner's signed-in sessions keep their own budgets;
each lock is one auth event; an operator lifts it with ``sessapp-user unlock``
(tested with the other commands in test_cli.py)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, new_browser, who_is_signed_in

from sessapp import keys
from sessapp.accounts import devices

ATTACKER_IP = "203.0.113.66"
OWNER_IP = "192.0.2.10"
NEW_PASSWORD = "a brand new passphrase here"


def limit(harness: Any) -> int:
    return harness.registry.sessapp_settings.auth.throttle_max_failures


def guess(browser: Any, username: str = "alice", status: int = 422) -> Any:
    return browser.login(username, "definitely not the password", status=status)


def lock_out(harness: Any, username: str = "alice", ip: str = ATTACKER_IP) -> Any:
    """A stranger uses up the account's budget; the next stranger is refused."""
    attacker = new_browser(harness, ip)
    for _ in range(limit(harness)):
        guess(attacker, username)
    guess(attacker, username, status=429)
    return attacker


def owners_browser(harness: Any, username: str = "alice") -> Any:
    """A browser that signed in to the account before and signed out."""
    browser = new_browser(harness, OWNER_IP)
    browser.login(username)
    browser.logout()
    assert browser.cookies.get("device")
    return browser


def events(harness: Any, event: str) -> int:
    return harness.count("auth_events", "event = :event", event=event)


# -- the device cookie ------------------------------------------------------------


def test_signing_in_gives_a_long_lived_httponly_device_cookie(harness, testapp):
    harness.make_user("alice")
    response = testapp.login("alice")
    [cookie] = [value for name, value in response.headerlist
                if name == "Set-Cookie" and value.startswith("device=")]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "path=/" in flags and "samesite=lax" in flags
    assert not any(flag.startswith("domain=") for flag in flags)
    assert "max-age=31536000" in flags
    # Registering signs in too; a failed sign-in gives none.
    newcomer = new_browser(harness, "192.0.2.30")
    newcomer.post("/register", {"username": "newcomer", "password": PASSWORD,
                                "csrf_token": newcomer.csrf_token("/register")}, status=303)
    assert newcomer.cookies.get("device")
    stranger = new_browser(harness, ATTACKER_IP)
    guess(stranger)
    assert stranger.cookies.get("device") is None


def test_cookies_page_redacts_the_device_cookie(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    assert testapp.get("/cookies").json["device"] == "[redacted]"
    assert testapp.cookies["device"] not in testapp.get("/cookies").text


def test_production_names_the_device_cookie_with_the_host_prefix(harness):
    settings = harness.registry.sessapp_settings
    assert devices.cookie_name(settings) == "device"
    production = type(settings)(environment="production")
    assert devices.cookie_name(production) == "__Host-device"


def test_a_device_cookie_names_its_account_and_only_its_signature_opens_it():
    key = keys.derive_key(b"s" * 32, keys.DEVICE_COOKIE)
    value = devices.encode(key, "alice", "nonce123")
    assert devices.decode(key, value) == ("alice", "nonce123")
    other_key = keys.derive_key(b"t" * 32, keys.DEVICE_COOKIE)
    assert devices.decode(other_key, value) is None
    alices_signature = value.rsplit(".", 1)[1]
    forged = devices.encode(key, "bob", "nonce123").rsplit(".", 1)[0] + "." + alices_signature
    assert devices.decode(key, forged) is None
    for junk in ("", "d1", "d1...", "d1.YWxpY2U.n.!!!", "x" * 5000, "d1.\u00e9.n.sig"):
        assert devices.decode(key, junk) is None


def test_the_owners_browser_signs_in_while_the_account_is_locked_for_strangers(harness):
    harness.make_user("alice")
    owner = owners_browser(harness)
    lock_out(harness)
    new_browser(harness, OWNER_IP).login("alice", status=429)  # a fresh browser is refused
    owner.login("alice", status=303)
    assert who_is_signed_in(owner) == "alice"


def test_a_tampered_device_cookie_gives_no_exemption(harness):
    harness.make_user("alice")
    genuine = owners_browser(harness).cookies["device"]
    lock_out(harness)
    body, signature = genuine.rsplit(".", 1)
    tampered = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    browser = new_browser(harness, OWNER_IP)
    browser.set_cookie("device", tampered)
    browser.login("alice", status=429)


def test_another_accounts_device_cookie_gives_no_exemption(harness):
    harness.make_user("alice")
    harness.make_user("bob")
    bobs = owners_browser(harness, "bob")
    lock_out(harness, "alice")
    bobs.login("alice", status=429)
    bobs.login("bob", status=303)


def test_a_trusted_device_fails_its_own_budget_and_is_locked_alone(harness):
    harness.make_user("alice")
    owner = owners_browser(harness)
    for _ in range(limit(harness)):
        guess(owner)
    owner.login("alice", status=429)  # the right password too
    # Its typos neither lock the account for anyone else nor count as a lockout.
    new_browser(harness, ATTACKER_IP).login("alice", status=303)
    assert harness.count("throttle_hits", "scope = 'login_account'") == 0
    assert events(harness, "account_locked") == 0


def test_each_success_gives_a_new_device_cookie_with_a_fresh_budget(harness):
    harness.make_user("alice")
    owner = owners_browser(harness)
    first = owner.cookies["device"]
    for _ in range(limit(harness) - 1):
        guess(owner)
    owner.login("alice")
    assert owner.cookies["device"] != first
    for _ in range(limit(harness)):  # the new nonce has its whole budget
        guess(owner)


def test_one_address_failing_a_few_times_locks_no_account(harness, browser_factory):
    """In development every visitor is 127.0.0.1: five typos there must not lock
    everyone. The per-IP budget is far larger than the per-account one."""
    harness.make_user("alice")
    harness.make_user("bob")
    office = browser_factory("198.51.100.1")
    for index in range(limit(harness)):
        guess(office, f"typo-{index}")
    office.login("alice", status=303)
    browser_factory("198.51.100.1").login("bob", status=303)
    settings = harness.registry.sessapp_settings.auth
    assert settings.throttle_ip_max_failures > settings.throttle_max_failures


# -- re-authentication of a signed-in user -----------------------------------------


def change_password(browser: Any, current: str = PASSWORD, status: int = 303) -> Any:
    return browser.post("/password", {"current_password": current, "new_password": NEW_PASSWORD,
                                      "csrf_token": browser.csrf_token("/password")},
                        status=status)


def revoke_others(browser: Any, current: str = PASSWORD, status: int = 303) -> Any:
    return browser.post("/sessions/revoke-others",
                        {"current_password": current,
                         "csrf_token": browser.csrf_token("/sessions")}, status=status)


@pytest.mark.parametrize("action", [change_password, revoke_others])
def test_the_signed_in_owner_is_not_held_by_a_lock_on_the_account_and_address(
        make_harness, action):
    # The attacker shares the owner's address: both its budget and the account's run out.
    harness = make_harness(**{"auth.throttle.ip_max_failures": 5})
    harness.make_user("alice")
    owner = new_browser(harness, OWNER_IP)
    owner.login("alice")
    lock_out(harness, "alice", ip=OWNER_IP)
    new_browser(harness, OWNER_IP).login("bob", status=429)  # the address is locked too
    action(owner)


def test_wrong_current_passwords_lock_only_that_session(harness, browser_factory):
    harness.make_user("alice")
    first, second = browser_factory(), browser_factory()
    first.login("alice")
    second.login("alice")
    for _ in range(limit(harness)):
        revoke_others(first, "not it at all", status=422)
    response = change_password(first, status=429)  # the right one too
    assert int(response.headers["Retry-After"]) > 0
    # Another session of the owner, and strangers signing in, are not held.
    revoke_others(second)
    browser_factory(ATTACKER_IP).login("alice", status=303)
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == limit(harness)
    assert harness.count("throttle_hits", "scope = 'login_account'") == 0


# -- lockouts as auth events ----------------------------------------------------------


def test_a_lockout_is_one_event_however_long_it_is_hammered(harness):
    harness.make_user("alice")
    attacker = lock_out(harness)
    for _ in range(3):
        guess(attacker, status=429)
    assert events(harness, "account_locked") == 1
    assert events(harness, "login_failure") == limit(harness)
    # The lock ends with the window; the next burst is the next lockout.
    harness.clock.advance(harness.registry.sessapp_settings.auth.throttle_window + 1)
    lock_out(harness)
    assert events(harness, "account_locked") == 2


def test_a_lockout_of_a_name_nobody_has_is_recorded_under_that_name(harness):
    lock_out(harness, "nobody-here")
    assert harness.count("auth_events", "event = 'account_locked' AND username = 'nobody-here'"
                         " AND user_id IS NULL") == 1


def test_the_owner_and_the_admin_see_the_lockout(harness):
    harness.make_user("alice")
    harness.make_user("root", admin=True)
    owner = new_browser(harness, OWNER_IP)
    owner.login("alice")
    lock_out(harness)
    shown = "Sign-in locked for new browsers after too many wrong passwords"
    assert shown in owner.get("/sessions").text
    admin = new_browser(harness, "192.0.2.20")
    admin.login("root")
    assert shown in admin.get("/admin").text


def test_a_lockout_mails_the_owner_once(harness):
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    attacker = lock_out(harness)
    guess(attacker, status=429)
    guess(attacker, status=429)
    mails = [row for row in harness.outbox() if "locked" in row.subject]
    assert [row.recipient for row in mails] == ["alice@example.org"]
