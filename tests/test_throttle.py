"""Login throttling counted in the database, per account and per client IP."""

from __future__ import annotations

from conftest import PASSWORD, new_browser


def fail(browser, username: str, status: int = 422):
    return browser.login(username, "definitely not the password", status=status)


def test_one_address_is_stopped_across_many_usernames(make_harness):
    harness = make_harness(**{"auth.throttle.ip_max_failures": 8})
    harness.make_user("alice")
    attacker = new_browser(harness, "203.0.113.66")
    for index in range(8):
        fail(attacker, f"guess-{index}")
    response = fail(attacker, "a-fresh-name", status=429)
    assert int(response.headers["Retry-After"]) > 0
    attacker.login("alice", PASSWORD, status=429)  # the right password too
    new_browser(harness, "198.51.100.7").login("alice", PASSWORD, status=303)


def test_the_address_budget_is_its_own_setting(harness):
    limits = harness.registry.throttle_limits
    auth = harness.registry.sessapp_settings.auth
    assert limits["login_ip"].max_hits == auth.throttle_ip_max_failures == 100
    assert limits["login_account"].max_hits == auth.throttle_max_failures == 5


def test_an_account_is_stopped_from_every_address_and_others_are_not(harness, browser_factory):
    harness.make_user("alice")
    harness.make_user("bob")
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for index in range(limit):
        fail(browser_factory(f"203.0.113.{index + 1}"), "alice")
    browser_factory("198.51.100.7").login("alice", PASSWORD, status=429)
    browser_factory("198.51.100.7").login("bob", PASSWORD, status=303)


def test_unknown_accounts_are_throttled_the_same_way(harness, browser_factory):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for index in range(limit):
        fail(browser_factory(f"203.0.113.{index + 1}"), "nobody-here")
    response = fail(browser_factory("198.51.100.7"), "nobody-here", status=429)
    assert "Too many attempts" in response.text


def test_the_lock_ends_when_the_window_passes_and_refusals_do_not_extend_it(harness, testapp):
    harness.make_user("alice")
    settings = harness.registry.sessapp_settings.auth
    for _ in range(settings.throttle_max_failures):
        fail(testapp, "alice")
    harness.clock.advance(settings.throttle_window - 10)
    for _ in range(5):
        fail(testapp, "alice", status=429)
    harness.clock.advance(11)
    testapp.login("alice", PASSWORD, status=303)


def test_registration_is_rate_limited_per_address(harness, browser_factory):
    browser = browser_factory("203.0.113.9")
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for index in range(limit):
        browser.post("/register", {"username": f"user{index}", "password": "x",
                                   "csrf_token": browser.csrf_token("/register")}, status=422)
    browser.post("/register", {"username": "late", "password": PASSWORD,
                               "csrf_token": browser.csrf_token("/register")}, status=429)
    assert harness.count("users") == 0
