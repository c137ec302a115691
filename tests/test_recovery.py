"""Password reset by mail (/password/forgot, /password/reset/{token}): one
answer for every address, links that work once, for a while, for one purpose,
a reset that ends every session and token and signs nobody in."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, new_browser, who_is_signed_in
from sqlalchemy import text

NEW_PASSWORD = "a brand new passphrase 77"
SITE = "https://app.example"


def forgot(browser, address="alice@example.org", status=200):
    token = browser.csrf_token("/password/forgot")
    return browser.post("/password/forgot", {"email": address, "csrf_token": token},
                        status=status)


def reset(browser, path, password=NEW_PASSWORD, status=303):
    token = browser.csrf_token(path) if status != 400 else browser.csrf_token("/login")
    return browser.post(path, {"new_password": password, "csrf_token": token}, status=status)


def path_of(url: str) -> str:
    assert url.startswith(SITE + "/"), url
    return urlsplit(url).path


@pytest.fixture
def alice(mail_harness):
    mail_harness.make_user("alice")
    mail_harness.set_email("alice", "alice@example.org")
    return mail_harness


def reset_path(smtp_server, count=1) -> str:
    return path_of(smtp_server.wait_for(count)[count - 1].link("/password/reset/"))


def _answer(response) -> str:
    """The page without its CSRF token, which differs per response."""
    return response.html.find("main").get_text(" ", strip=True)


def test_known_unknown_and_unverified_addresses_get_the_same_answer(alice, smtp_server):
    alice.make_user("bob")
    alice.set_email("bob", "bob@example.org", verified=False)
    browser = new_browser(alice)
    answers = {_answer(forgot(browser, address))
               for address in ("alice@example.org", "nobody@example.org", "bob@example.org",
                               "ALICE@Example.org")}
    assert len(answers) == 1
    mails = smtp_server.wait_for(2)
    assert [m.recipients for m in mails] == [["alice@example.org"]] * 2
    assert [row.recipient for row in alice.outbox()] == ["alice@example.org"] * 2


def test_a_disabled_account_gets_no_link(alice, smtp_server):
    with alice.engine.begin() as connection:
        connection.execute(text("UPDATE users SET disabled = :yes"), {"yes": True})
    forgot(new_browser(alice))
    assert alice.outbox() == []


@pytest.mark.parametrize("address", ["not an address", "a@", "x" * 400 + "@example.org", ""])
def test_a_malformed_address_is_422(alice, address):
    page = forgot(new_browser(alice), address, status=422)
    assert "not a valid e-mail address" in page.text
    assert alice.outbox() == []


def test_the_reset_page_changes_nothing_and_leaks_no_referrer(alice, smtp_server):
    forgot(new_browser(alice))
    path = reset_path(smtp_server)
    visitor = new_browser(alice)
    for _ in range(2):  # a mail scanner, then the person
        page = visitor.get(path)
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.html.find("input", {"name": "new_password"}) is not None
    reset(visitor, path)


def test_a_reset_ends_every_session_and_token_and_signs_nobody_in(alice, smtp_server):
    signed_in = new_browser(alice, "198.51.100.1")
    signed_in.login()
    token = signed_in.post_json("/api/tokens", {
        "name": "ci", "expires_in_days": 3, "current_password": PASSWORD},
        headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")}, status=201).json["token"]
    before = len(smtp_server.wait_for(2))  # the new-browser and token notices
    visitor = new_browser(alice)
    forgot(visitor)
    path = reset_path(smtp_server, before + 1)

    response = reset(visitor, path)

    assert urlsplit(response.location).path == "/login"
    assert who_is_signed_in(visitor) is None
    assert who_is_signed_in(signed_in) is None
    assert alice.count("sessions") == 0
    script = new_browser(alice)
    script.get("/api/me", headers={"Authorization": f"Bearer {token}"}, status=401)
    new_browser(alice).login(password=PASSWORD, status=422)
    new_browser(alice).login(password=NEW_PASSWORD, status=303)
    notice = smtp_server.wait_for(before + 2)[before + 1]
    assert notice.subject == "Your sessapp password was reset"
    assert notice.recipients == ["alice@example.org"]
    assert "192.0.2.10" in notice.text  # from which IP


def test_a_link_works_once(alice, smtp_server):
    forgot(new_browser(alice))
    path = reset_path(smtp_server)
    reset(new_browser(alice), path)
    again = new_browser(alice)
    page = again.get(path, status=400)
    assert page.html.find("a", href="/password/forgot") is not None
    reset(again, path, "yet another passphrase 99", status=400)
    new_browser(alice).login(password=NEW_PASSWORD, status=303)


def test_a_newer_request_kills_older_links(alice, smtp_server):
    forgot(new_browser(alice))
    forgot(new_browser(alice))
    mails = smtp_server.wait_for(2)
    older, newer = (path_of(m.link("/password/reset/")) for m in mails)
    new_browser(alice).get(older, status=400)
    reset(new_browser(alice), newer)


def test_a_password_change_kills_reset_links(alice, smtp_server):
    forgot(new_browser(alice))
    path = reset_path(smtp_server)
    owner = new_browser(alice)
    owner.login()
    owner.post("/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                             "csrf_token": owner.csrf_token("/password")}, status=303)
    new_browser(alice).get(path, status=400)


def test_a_link_expires_after_the_reset_timeout(alice, smtp_server):
    forgot(new_browser(alice))
    path = reset_path(smtp_server)
    alice.clock.advance(alice.registry.sessapp_settings.auth.reset_timeout)
    new_browser(alice).get(path, status=400)


def test_a_weak_password_is_422_and_keeps_the_link(alice, smtp_server):
    forgot(new_browser(alice))
    path = reset_path(smtp_server)
    visitor = new_browser(alice)
    page = reset(visitor, path, "short", status=422)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    reset(visitor, path)


LINK_PREFIXES = ("/password/reset/", "/email/verify/", "/email/undo/", "/session-end/")


@pytest.mark.parametrize("token", ["x", "A" * 43, "a" * 5000, "A" * 42 + "=", "%C3%A9" * 43])
def test_bad_tokens_get_the_dead_link_page(alice, token):
    browser = new_browser(alice)
    for prefix in LINK_PREFIXES:
        page = browser.get(prefix + token, status=400)
        assert "This link no longer works" in page.text
        page = browser.post(prefix + token, {"csrf_token": browser.csrf_token("/login")},
                            status=400)
        assert "This link no longer works" in page.text


@pytest.mark.parametrize("token", ["%ff%fe", "..%2f..%2fetc", "%00"])
def test_unreadable_tokens_are_refused_never_500(alice, token):
    browser = new_browser(alice)
    for prefix in LINK_PREFIXES:
        assert browser.get(prefix + token, status="*").status_int in {400, 404}


def test_only_the_hash_of_a_link_is_stored(alice, smtp_server):
    forgot(new_browser(alice))
    token = reset_path(smtp_server).rsplit("/", 1)[1]
    with alice.engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM one_time_links")).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()


def test_a_link_for_one_purpose_opens_no_other(alice, smtp_server):
    forgot(new_browser(alice))
    token = reset_path(smtp_server).rsplit("/", 1)[1]
    new_browser(alice).get(f"/email/verify/{token}", status=400)
    new_browser(alice).get(f"/session-end/{token}", status=400)


def test_requests_are_throttled_per_address(make_harness):
    harness = make_harness(**{"mail.delivery": "off"})
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for n in range(limit):
        forgot(new_browser(harness, f"198.51.100.{n}"), "nobody@example.org")
    page = forgot(new_browser(harness, "198.51.100.99"), "Nobody@Example.org", status=429)
    assert int(page.headers["Retry-After"]) > 0
    forgot(new_browser(harness, "198.51.100.99"), "someone@example.org")


def test_requests_are_throttled_per_ip(make_harness):
    harness = make_harness(**{"mail.delivery": "off", "auth.throttle.ip_max_failures": 3})
    browser = new_browser(harness, "198.51.100.7")
    for n in range(3):
        forgot(browser, f"person{n}@example.org")
    forgot(browser, "another@example.org", status=429)
    forgot(new_browser(harness, "198.51.100.8"), "another@example.org")
