"""Mail leaves only after the request commits, survives an SMTP outage, goes
out once, and links only to ``sessapp.base_url``: with a real SMTP server."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import new_browser
from sqlalchemy import text

from sessapp.accounts import mail_delivery
from sessapp.scripts import mail as mail_script


def forgot(browser, address="alice@example.org", status=200, **headers):
    token = browser.csrf_token("/password/forgot")
    return browser.post("/password/forgot", {"email": address, "csrf_token": token},
                        status=status, headers=headers)


@pytest.fixture
def alice(mail_harness):
    mail_harness.make_user("alice")
    mail_harness.set_email("alice", "alice@example.org")
    return mail_harness


def test_a_committed_request_is_delivered_by_smtp_with_the_right_headers(alice, smtp_server):
    forgot(new_browser(alice))
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == ["alice@example.org"]
    assert mail.sender == "noreply@app.example"
    assert mail.subject == "Reset your sessapp password"
    message = mail.message
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@app.example>")
    assert message["Date"]
    assert message.get_body(preferencelist=("html",)) is not None
    link = mail.link("/password/reset/")
    assert link.startswith("https://app.example/password/reset/")
    assert link in mail.html


def test_links_ignore_the_host_the_request_claims(alice, smtp_server):
    browser = new_browser(alice)
    browser.extra_environ["HTTP_HOST"] = "evil.example"
    forgot(browser, **{"X-Forwarded-Host": "evil.example"})
    [mail] = smtp_server.wait_for(1)
    assert "evil.example" not in mail.message.as_string()
    assert mail.links[0].startswith("https://app.example/")


def test_a_request_that_fails_sends_nothing(alice, smtp_server, monkeypatch):
    """The mail is queued, then the request fails before its commit."""
    from sessapp.accounts import recovery

    real = recovery.request_reset

    def then_fail(request, address):
        real(request, address)
        request.dbsession.flush()
        raise RuntimeError("boom after the mail was queued")

    monkeypatch.setattr(recovery, "request_reset", then_fail)
    browser = new_browser(alice)
    token = browser.csrf_token("/password/forgot")
    browser.post("/password/forgot", {"email": "alice@example.org", "csrf_token": token},
                 status=500)
    assert alice.outbox() == []
    alice.registry.mail_dispatcher.wake()
    assert mail_delivery.deliver_due(alice.registry["dbsession_factory"],
                                     alice.registry.sessapp_settings, alice.clock.now).sent == 0
    assert smtp_server.received == []


def test_an_outage_neither_fails_the_request_nor_loses_or_repeats_the_mail(alice, smtp_server):
    smtp_server.stop()
    forgot(new_browser(alice))  # 200 although the server is down
    dispatcher = alice.registry.mail_dispatcher
    # The delivery thread tries, fails and schedules a retry.
    _wait(lambda: alice.outbox()[0].attempts >= 1 and _retry_scheduled(alice))
    [row] = alice.outbox()
    assert row.sent_at is None

    smtp_server.start()
    alice.clock.advance(mail_delivery.FIRST_RETRY + 1)
    dispatcher.wake()
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == ["alice@example.org"]
    _wait(lambda: alice.outbox()[0].sent_at is not None)
    # Later passes find nothing to send again.
    passes = dispatcher.passes
    dispatcher.wake()
    _wait(lambda: dispatcher.passes > passes)
    assert len(smtp_server.received) == 1


def test_retries_back_off_up_to_an_hour():
    delays = [mail_delivery.retry_delay(n).total_seconds() for n in (1, 2, 3, 10, 50)]
    assert delays == [30, 60, 120, 3600, 3600]


def test_a_row_claimed_by_another_process_is_not_sent_twice(alice, smtp_server):
    """Two passes racing for the same rows: the claim goes to one of them."""
    alice.registry.mail_dispatcher.close()
    with alice.transaction() as dbsession:
        from sessapp.models import OutboxMessage
        now = alice.clock.now()
        dbsession.add_all([OutboxMessage(message_id=f"<m{n}@app.example>",
                                         recipient="alice@example.org", subject="s",
                                         content="Subject: s\n\nbody\n", created_at=now,
                                         next_attempt_at=now, attempts=0)
                           for n in range(3)])
    factory = alice.registry["dbsession_factory"]
    _first_claim, first = mail_delivery.claim(factory, alice.clock.now())
    _second_claim, second = mail_delivery.claim(factory, alice.clock.now())
    assert len(first) == 3 and second == []
    # Two processes that read the same ids at once: the second takes nothing.
    ids = [row.id for row in first]
    with factory() as dbsession, dbsession.begin():
        assert mail_delivery.take(dbsession, ids, "late", alice.clock.now()) == 0
    # Once the lease runs out (the first process died), another may take them.
    later = alice.clock.now() + mail_delivery.LEASE + timedelta(seconds=1)
    _claim, third = mail_delivery.claim(factory, later)
    assert len(third) == 3


def test_a_permanent_refusal_is_not_retried(alice, smtp_server, monkeypatch):
    def refuse(self, row):
        raise mail_delivery.PermanentFailure("550 no such mailbox")

    monkeypatch.setattr(mail_delivery.SmtpTransport, "send", refuse)
    alice.registry.mail_dispatcher.close()
    forgot(new_browser(alice))
    result = mail_delivery.deliver_due(alice.registry["dbsession_factory"],
                                       alice.registry.sessapp_settings, alice.clock.now)
    assert (result.sent, result.failed, result.next_due) == (0, 1, None)
    with alice.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT last_error FROM outbox_messages")).scalar_one().endswith("no such mailbox")


def test_sessapp_mail_flushes_the_queue_ignoring_retry_delays(alice, smtp_server, tmp_path,
                                                              capsys):
    from servers import write_ini

    alice.registry.mail_dispatcher.close()
    smtp_server.stop()
    forgot(new_browser(alice))
    mail_delivery.deliver_due(alice.registry["dbsession_factory"],
                              alice.registry.sessapp_settings, alice.clock.now)
    assert alice.outbox()[0].attempts == 1  # failed, waiting for its retry
    smtp_server.start()
    ini = write_ini(tmp_path / "mail.ini", app={
        "sqlalchemy.url": alice.url, "mail.delivery": "smtp", "mail.host": "127.0.0.1",
        "mail.port": str(smtp_server.port), "mail.sender": "noreply@app.example"})
    with pytest.raises(SystemExit) as exit_status:
        mail_script.main([str(ini)])
    assert exit_status.value.code == 0
    assert "sent 1 message(s) (smtp)" in capsys.readouterr().out
    assert [m.recipients for m in smtp_server.wait_for(1)] == [["alice@example.org"]]
    assert alice.outbox()[0].sent_at is not None


def test_console_delivery_logs_the_message_with_its_link(make_harness, caplog):
    harness = make_harness(**{"mail.delivery": "console"})
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    harness.registry.mail_dispatcher.close()
    forgot(new_browser(harness))
    with caplog.at_level(logging.INFO, logger="sessapp.mail"):
        result = mail_delivery.deliver_due(harness.registry["dbsession_factory"],
                                           harness.registry.sessapp_settings,
                                           harness.clock.now)
    assert result.sent == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "alice@example.org" in logged
    assert "http://localhost/password/reset/" in logged


def test_delivery_off_queues_and_sends_nothing(make_harness):
    harness = make_harness(**{"mail.delivery": "off"})
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    forgot(new_browser(harness))
    assert harness.outbox() == []


def test_non_ascii_text_is_stored_7bit_and_arrives_intact(alice, smtp_server):
    alice.make_user("zoë")
    alice.set_email("zoë", "zoe@bücher.example")
    forgot(new_browser(alice), "zoe@bücher.example")
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == ["zoe@xn--bcher-kva.example"]
    assert "Hello zoë," in mail.text
    assert alice.outbox()[0].content.isascii()


def _retry_scheduled(harness) -> bool:
    with harness.engine.connect() as connection:
        return connection.execute(text(
            "SELECT COUNT(*) FROM outbox_messages WHERE next_attempt_at > created_at "
            "AND lease_until IS NULL")).scalar_one() == 1


def _wait(condition, timeout: float = 15.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")



def test_gc_deletes_old_sent_mail_and_expired_links_but_never_waiting_mail(harness):
    from sessapp.models import OneTimeLink, OutboxMessage
    from sessapp.scripts.common import Environment
    from sessapp.scripts.gc import collect

    alice_id = harness.make_user("alice")
    now = harness.clock.now()
    long_ago = now - timedelta(days=harness.registry.sessapp_settings.audit_retention_days + 1)

    def message(n, **state):
        return OutboxMessage(message_id=f"<gc{n}@x>", recipient="a@example.org", subject="s",
                             content="x", created_at=long_ago, next_attempt_at=long_ago,
                             attempts=1, **state)

    with harness.transaction() as dbsession:
        dbsession.add_all([message(1, sent_at=long_ago), message(2, failed_at=long_ago),
                           message(3), message(4, sent_at=now)])
        for n, expires in enumerate((now - timedelta(seconds=1), now + timedelta(hours=1))):
            dbsession.add(OneTimeLink(token_hash=f"{n:064d}", purpose="reset", user_id=alice_id,
                                      created_at=long_ago, expires_at=expires))
    env = Environment(raw={}, settings=harness.registry.sessapp_settings,
                      engine=harness.engine)
    counts = collect(env, now=now)
    assert (counts["mails"], counts["links"]) == (2, 1)
    assert [row.message_id for row in harness.outbox()] == ["<gc3@x>", "<gc4@x>"]
    assert harness.count("one_time_links") == 1
