"""What one client without credentials can make the server keep: anonymous
sessions capped per IP (``session.anonymous_max_per_ip``), refusals stored up
to a per-IP allowance, failures and registrations up to their throttles."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, new_browser

from sessapp.sessions.settings import SettingsError, parse_session_settings

ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"
TABLES = ["users", "sessions", "api_tokens", "auth_events", "throttle_hits"]


def store_as_new_visitor(browser, csrf_cookie: str, token: str, value: str):
    """POST /session-data as a visitor with no session yet (the same anonymous
    CSRF pair each time: it is not tied to a session)."""
    browser.reset()
    browser.set_cookie("csrf_token", csrf_cookie)
    return browser.post("/session-data", {"key": "k", "value": value, "csrf_token": token},
                        status=303)


def anonymous_pair(browser) -> tuple[str, str]:
    token = browser.csrf_token("/login")
    return browser.cookies["csrf_token"], token


def anonymous_sessions(harness, ip: str) -> int:
    return harness.count("sessions", "ip = :ip AND user_id IS NULL", ip=ip)


def test_an_address_keeps_its_newest_anonymous_sessions_only(make_harness):
    harness = make_harness(**{"session.anonymous_max_per_ip": 3})
    browsers = [new_browser(harness, ATTACKER) for _ in range(5)]
    for index, browser in enumerate(browsers):
        harness.clock.advance(1)
        browser.post("/session-data", {"key": "k", "value": str(index),
                                       "csrf_token": browser.csrf_token("/login")},
                     status=303)
    assert anonymous_sessions(harness, ATTACKER) == 3
    assert [browser.get("/session-data").json for browser in browsers] == [
        {}, {}, {"k": "2"}, {"k": "3"}, {"k": "4"}]


def test_the_cap_spares_other_addresses_and_signed_in_sessions(make_harness):
    harness = make_harness(**{"session.anonymous_max_per_ip": 2})
    harness.make_user("alice")
    alice = new_browser(harness, ATTACKER)
    alice.login("alice")
    neighbour = new_browser(harness, NEIGHBOUR)
    neighbour.post("/session-data", {"key": "k", "value": "mine",
                                     "csrf_token": neighbour.csrf_token("/login")},
                   status=303)
    attacker = new_browser(harness, ATTACKER)
    pair = anonymous_pair(attacker)
    for index in range(10):
        store_as_new_visitor(attacker, *pair, str(index))
    assert anonymous_sessions(harness, ATTACKER) == 2
    assert neighbour.get("/session-data").json == {"k": "mine"}
    assert alice.get("/api/me").json["username"] == "alice"


def test_zero_means_no_limit(make_harness):
    harness = make_harness(**{"session.anonymous_max_per_ip": 0})
    attacker = new_browser(harness, ATTACKER)
    pair = anonymous_pair(attacker)
    for index in range(12):
        store_as_new_visitor(attacker, *pair, str(index))
    assert anonymous_sessions(harness, ATTACKER) == 12


def test_the_setting_is_read_and_checked(make_harness):
    harness = make_harness(**{"session.anonymous_max_per_ip": 7})
    assert harness.registry.sessapp_settings.session.anonymous_max_per_ip == 7
    assert parse_session_settings({}).anonymous_max_per_ip == 200
    with pytest.raises(SettingsError, match=r"session\.anonymous_max_per_ip"):
        parse_session_settings({"session.anonymous_max_per_ip": "-1"})


def test_one_client_without_credentials_cannot_grow_any_table_without_bound(make_harness):
    """Hundreds of requests of every kind a stranger can send, from one IP, in
    one throttle window: each table ends within what the settings allow, not
    in proportion to the requests."""
    limits = {"session.anonymous_max_per_ip": 10, "auth.refusals_stored_per_ip": 5,
              "auth.throttle.ip_max_failures": 12, "auth.throttle.max_failures": 3}
    harness = make_harness(**limits)
    harness.make_user("alice")
    before = {table: harness.count(table) for table in TABLES}
    attacker = new_browser(harness, ATTACKER)
    pair = anonymous_pair(attacker)
    rounds = 150
    for index in range(rounds):
        store_as_new_visitor(attacker, *pair, "x" * 1000 + str(index))
        attacker.get("/api/me", headers={"Authorization": f"Bearer junk{index}"}, status=401)
        attacker.post("/session-data", {"key": "k", "value": "v", "csrf_token": "forged"},
                      headers={"Authorization": f"Bearer junk-{index}"}, status="*")
        attacker.post("/session-data", {"key": "k", "value": "v"}, status=400)
        attacker.get("/profile", status=303)
        if index % 5 == 0:  # the slow part (a password check each), fewer times
            browser = new_browser(harness, ATTACKER)
            browser.login(f"guess-{index}", "not a password at all", status="*")
            browser.login("alice", "not a password at all", status="*")
            browser.post("/register", {"username": f"sprayed{index}", "password": PASSWORD,
                                       "csrf_token": browser.csrf_token("/register")},
                         status="*")
    grown = {table: harness.count(table) - before[table] for table in TABLES}
    allowed_failures = limits["auth.throttle.ip_max_failures"]
    allowed_registrations = limits["auth.throttle.max_failures"]
    assert grown["sessions"] <= limits["session.anonymous_max_per_ip"] + allowed_registrations
    assert grown["users"] <= allowed_registrations
    assert grown["api_tokens"] == 0
    # stored refusals, one event per failed sign-in, alice's lock, and two per
    # registration (register, login_success)
    assert grown["auth_events"] <= (limits["auth.refusals_stored_per_ip"] + allowed_failures
                                    + 1 + 2 * allowed_registrations)
    assert grown["throttle_hits"] <= (limits["auth.refusals_stored_per_ip"]
                                      + 2 * allowed_failures + allowed_registrations)
    assert sum(grown.values()) < rounds
