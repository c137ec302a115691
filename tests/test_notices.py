"""Security notices by mail: what happened, when, from which IP and browser;
a sign-in from a new browser with a link that ends that session."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, new_browser, who_is_signed_in
from pyramid.scripting import prepare

from sessapp.accounts import audit, notices
from sessapp.accounts import users as accounts

SITE = "https://app.example"
SECOND_FACTOR_EVENTS = ["mfa_totp_enabled", "mfa_totp_disabled",
                        "mfa_recovery_codes_regenerated", "mfa_recovery_code_used",
                        "passkey_added", "passkey_removed", "admin_reset_mfa"]


@pytest.fixture
def alice(mail_harness):
    mail_harness.make_user("alice")
    mail_harness.set_email("alice", "alice@example.org")
    return mail_harness


def test_a_sign_in_from_a_new_browser_is_told_once_per_browser(alice, smtp_server):
    browser = new_browser(alice, "198.51.100.23")
    browser.login()
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == ["alice@example.org"]
    assert mail.subject == "New sign-in to your sessapp account"
    assert "198.51.100.23" in mail.text
    assert "Firefox on Linux" in mail.text
    assert " UTC" in mail.text
    browser.logout()
    browser.login()  # the same browser: it kept its device cookie
    other = new_browser(alice)
    other.login()
    mails = smtp_server.wait_for(2)
    assert len([m for m in alice.outbox() if "New sign-in" in m.subject]) == 2
    assert len(mails) == 2


def test_the_notice_link_ends_that_session_without_signing_in(alice, smtp_server):
    intruder = new_browser(alice, "203.0.113.66")
    intruder.login()
    owner_sessions = new_browser(alice, "198.51.100.1")
    owner_sessions.login()
    first = smtp_server.wait_for(2)[0]
    path = urlsplit(first.link("/session-end/")).path
    assert first.link("/session-end/").startswith(SITE + "/session-end/")

    reader = new_browser(alice, "198.51.100.2")
    page = reader.get(path)  # a look ends nothing
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert who_is_signed_in(intruder) == "alice"
    ended = page.forms["link-form"].submit(status=200)

    assert ended.html.find("a", href="/password/forgot") is not None
    assert who_is_signed_in(intruder) is None
    assert who_is_signed_in(owner_sessions) == "alice"
    assert who_is_signed_in(reader) is None
    reader.get(path, status=400)


def test_a_password_change_is_told(alice, smtp_server):
    browser = new_browser(alice)
    browser.login()
    browser.post("/password", {"current_password": PASSWORD,
                               "new_password": "a brand new passphrase 77",
                               "csrf_token": browser.csrf_token("/password")}, status=303)
    notice = smtp_server.wait_for(2)[1]
    assert notice.subject == "Your sessapp password was changed"
    assert "192.0.2.10" in notice.text


def test_an_api_token_is_told(alice, smtp_server):
    browser = new_browser(alice)
    browser.login()
    browser.post_json("/api/tokens", {"name": "ci", "expires_in_days": 3,
                                      "current_password": PASSWORD},
                      headers={"X-CSRF-Token": browser.csrf_token("/sessions")}, status=201)
    notice = smtp_server.wait_for(2)[1]
    assert notice.subject == "A new API token for your sessapp account"


def test_no_notice_goes_to_an_unverified_address(harness):
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org", verified=False)
    browser = new_browser(harness)
    browser.login()
    browser.post("/password", {"current_password": PASSWORD,
                               "new_password": "a brand new passphrase 77",
                               "csrf_token": browser.csrf_token("/password")}, status=303)
    assert harness.outbox() == []


@pytest.mark.parametrize("event", SECOND_FACTOR_EVENTS)
def test_second_factor_events_are_told_by_the_audit_trail_alone(harness, event):
    """The events the second-factor code records mail the owner by themselves."""
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.environ["REMOTE_ADDR"] = "198.51.100.5"
    try:
        with harness.transaction() as dbsession:
            request.dbsession = dbsession
            user = accounts.find_user(dbsession, "alice")
            request.tm = _Manager(dbsession)
            audit.record(request, event, user=user)
    finally:
        env["closer"]()
    [row] = harness.outbox()
    assert row.recipient == "alice@example.org"
    assert row.subject == notices.EVENT_NOTICES[event][0]
    assert "198.51.100.5" in row.content


class _Manager:
    """``request.tm`` for a request made outside the router: the harness's
    transaction, so the after-commit hook has somewhere to go."""

    def __init__(self, dbsession):
        self.dbsession = dbsession

    def get(self):
        return self.dbsession.info["transaction_manager"].get()


def test_a_notice_is_written_in_the_language_of_the_request(alice, smtp_server):
    """The new-sign-in notice of a German sign-in is German, the catalogue's
    words throughout; the username and the link are as they are."""
    browser = new_browser(alice)
    browser.set_cookie("language", "de")
    browser.login()
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Neue Anmeldung an Ihrem sessapp-Konto"
    assert mail.message["Content-Language"] == "de"
    for part in (mail.text, mail.html):
        assert "Hallo alice," in part
        assert "Nicht Sie? Diese Sitzung beenden" in part
        assert "IP-Adresse" in part and "Wann" in part
        assert "Firefox unter Linux" in part
        assert "sign-in" not in part.lower()
    assert mail.link("/session-end/").startswith(SITE + "/")
