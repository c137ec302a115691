"""E-mail addresses: asked for at registration, verified by a mailed link,
changed only when the new address confirms, the old one told and able to undo."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, new_browser, who_is_signed_in
from sqlalchemy import text

SITE = "https://app.example"


def path_of(url: str) -> str:
    assert url.startswith(SITE + "/"), url
    return urlsplit(url).path


def register(browser, username="bob", email="Bob@Example.org", status=303):
    token = browser.csrf_token("/register")
    fields = {"username": username, "password": PASSWORD, "csrf_token": token}
    if email is not None:
        fields["email"] = email
    return browser.post("/register", fields, status=status)


def change(browser, email, password=PASSWORD, status=303):
    fields = {"email": email, "csrf_token": browser.csrf_token("/email")}
    if password is not None:
        fields["current_password"] = password
    return browser.post("/email", fields, status=status)


def confirm(browser, path, status=303):
    page = browser.get(path)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    form = page.forms["link-form"]
    return form.submit(status=status)


def address_of(harness, username):
    with harness.engine.connect() as connection:
        return tuple(connection.execute(text(
            "SELECT email, email_verified_at IS NOT NULL FROM users WHERE username = :name"),
            {"name": username}).one())


@pytest.fixture
def required(make_harness, smtp_server):
    return make_harness(**{"auth.email.required": "true", "mail.delivery": "smtp",
                           "mail.host": "127.0.0.1", "mail.port": smtp_server.port,
                           "sessapp.base_url": SITE})


def test_registration_asks_for_an_address_and_mails_a_verification_link(required,
                                                                        smtp_server):
    browser = new_browser(required)
    assert browser.get("/register").html.find("input", {"name": "email"}) is not None
    register(browser)
    assert address_of(required, "bob") == ("Bob@example.org", False)
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == ["Bob@example.org"]
    assert mail.subject == "Confirm your e-mail address for sessapp"
    path = path_of(mail.link("/email/verify/"))
    browser.get(path)  # a look changes nothing
    assert address_of(required, "bob") == ("Bob@example.org", False)
    response = confirm(browser, path)
    assert urlsplit(response.location).path == "/profile"
    assert address_of(required, "bob") == ("Bob@example.org", True)
    browser.get(path, status=400)


@pytest.mark.parametrize(("email", "message"), [
    (None, "not a valid e-mail address"),
    ("", "not a valid e-mail address"),
    ("bob@", "not a valid e-mail address"),
    ("x" * 5000, "too long"),
    ("ALICE@example.org", "belongs to another account"),
])
def test_registration_refuses_a_missing_malformed_or_taken_address(required, email, message):
    required.make_user("alice")
    required.set_email("alice", "alice@example.org")
    page = register(new_browser(required), email=email, status=422)
    assert message in page.text
    assert required.count("users") == 1


def test_registration_without_the_setting_asks_for_no_address(harness):
    browser = new_browser(harness)
    assert browser.get("/register").html.find("input", {"name": "email"}) is None
    register(browser, email="bob@example.org")
    assert address_of(harness, "bob") == (None, False)
    assert harness.outbox() == []


@pytest.fixture
def alice(mail_harness):
    mail_harness.make_user("alice")
    mail_harness.set_email("alice", "alice@example.org")
    browser = new_browser(mail_harness)
    browser.login()
    return mail_harness, browser


def test_a_change_happens_when_the_new_address_confirms(alice, smtp_server):
    harness, browser = alice
    before = len(smtp_server.wait_for(1))  # the new-browser notice
    assert "alice@example.org" in browser.get("/email").text
    change(browser, "new@example.org")
    assert address_of(harness, "alice") == ("alice@example.org", True)
    mails = smtp_server.wait_for(before + 2)[before:]
    by_recipient = {tuple(m.recipients): m for m in mails}
    verify = by_recipient[("new@example.org",)]
    notice = by_recipient[("alice@example.org",)]
    assert "new@example.org" in notice.text
    assert "192.0.2.10" in notice.text
    notice.link("/email/undo/")
    confirm(new_browser(harness), path_of(verify.link("/email/verify/")))
    assert address_of(harness, "alice") == ("new@example.org", True)


def test_the_old_address_can_undo_the_change_and_sign_everyone_out(alice, smtp_server):
    harness, browser = alice
    before = len(smtp_server.wait_for(1))
    change(browser, "thief@example.org")
    mails = smtp_server.wait_for(before + 2)[before:]
    by_recipient = {tuple(m.recipients): m for m in mails}
    verify = path_of(by_recipient[("thief@example.org",)].link("/email/verify/"))
    undo = path_of(by_recipient[("alice@example.org",)].link("/email/undo/"))
    confirm(new_browser(harness), verify)
    assert address_of(harness, "alice") == ("thief@example.org", True)

    page = confirm(new_browser(harness), undo, status=200)

    assert "Your address is kept" in page.text
    assert page.html.find("a", href="/password/forgot") is not None
    assert address_of(harness, "alice") == ("alice@example.org", True)
    assert who_is_signed_in(browser) is None
    new_browser(harness).get(undo, status=400)


def test_undo_before_confirmation_kills_the_pending_link(alice, smtp_server):
    harness, browser = alice
    before = len(smtp_server.wait_for(1))
    change(browser, "thief@example.org")
    mails = smtp_server.wait_for(before + 2)[before:]
    by_recipient = {tuple(m.recipients): m for m in mails}
    verify = path_of(by_recipient[("thief@example.org",)].link("/email/verify/"))
    confirm(new_browser(harness), path_of(by_recipient[("alice@example.org",)]
                                          .link("/email/undo/")), status=200)
    new_browser(harness).get(verify, status=400)
    assert address_of(harness, "alice") == ("alice@example.org", True)


def test_a_wrong_current_password_changes_nothing(alice):
    harness, browser = alice
    page = change(browser, "new@example.org", password="wrong password entirely", status=422)
    assert "not your current password" in page.text
    assert [row.recipient for row in harness.outbox()] == ["alice@example.org"]  # sign-in


def test_a_change_outside_sudo_mode_goes_to_sudo_and_changes_nothing(alice):
    harness, browser = alice
    token = browser.csrf_token("/email")
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
    response = browser.post("/email", {"email": "new@example.org", "csrf_token": token},
                            status=303)
    assert "/sudo?next=" in response.location
    assert [row.recipient for row in harness.outbox()] == ["alice@example.org"]  # sign-in


def test_a_change_to_an_address_in_use_is_refused_whatever_its_case(alice):
    harness, browser = alice
    harness.make_user("carol")
    harness.set_email("carol", "carol@example.org")
    page = change(browser, "CAROL@EXAMPLE.ORG", status=422)
    assert "belongs to another account" in page.text


def test_one_account_per_address_is_kept_by_the_database_too(harness):
    """Even past the application's check: the unique key holds on every backend."""
    from sqlalchemy.exc import IntegrityError

    harness.make_user("alice")
    harness.make_user("carol")
    harness.set_email("alice", "Same@example.org")
    with pytest.raises(IntegrityError), harness.engine.begin() as connection:
        connection.execute(text(
            "UPDATE users SET email = 'same@EXAMPLE.org', email_key = 'same@example.org' "
            "WHERE username = 'carol'"))


def test_the_email_page_needs_a_signed_in_user(harness):
    response = new_browser(harness).get("/email", status=303)
    assert "/login?next=" in response.location


def test_an_address_taken_before_it_is_confirmed_is_refused_and_changes_nothing(
        alice, smtp_server):
    harness, browser = alice
    before = len(smtp_server.wait_for(1))
    change(browser, "contested@example.org")
    verify = next(m for m in smtp_server.wait_for(before + 2)[before:]
                  if m.recipients == ["contested@example.org"])
    harness.make_user("carol")
    harness.set_email("carol", "contested@example.org")
    page = confirm(new_browser(harness), path_of(verify.link("/email/verify/")), status=409)
    assert "belongs to another account" in page.text
    assert address_of(harness, "alice") == ("alice@example.org", True)
