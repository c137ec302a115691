"""The audit trail: rows for every auth event, logs without secrets."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import PASSWORD


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.INFO, logger="sessapp")
    return caplog


def events(harness) -> list[str]:
    with harness.engine.connect() as connection:
        from sqlalchemy import text

        rows = connection.execute(text("SELECT event FROM auth_events ORDER BY id"))
        return [row[0] for row in rows]


def test_each_auth_event_leaves_a_row(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice", "wrong password!!", status=422)
    testapp.login("alice")
    token = testapp.csrf_token("/profile")
    testapp.post_json("/api/tokens", {"name": "t", "expires_in_days": 1,
                                                "current_password": PASSWORD},
                      headers={"X-CSRF-Token": token}, status=201)
    testapp.logout()
    assert events(harness) == ["login_failure", "login_success", "api_token_created", "logout"]


def test_failures_are_kept_even_when_the_request_is_rolled_back(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    testapp.post("/session-data", {"key": "k", "value": "v"}, status=400)  # no CSRF token
    assert events(harness) == ["login_success", "csrf_failure"]


def test_anonymous_csrf_failures_are_logged_but_store_no_row(harness, testapp, audit_log):
    testapp.get("/login")
    for _ in range(3):
        testapp.post("/session-data", {"key": "k", "value": "v"}, status=400)
    assert events(harness) == []
    assert sum("csrf_failure" in r.getMessage() for r in audit_log.records) == 3


def test_a_refused_page_leaves_a_forbidden_event(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    testapp.get("/admin", status=403)
    assert events(harness) == ["login_success", "forbidden"]


def test_the_request_id_header_matches_the_audit_record(harness, testapp, audit_log):
    harness.make_user("alice")
    response = testapp.login("alice")
    records = [json.loads(r.getMessage()) for r in audit_log.records
               if r.name == "sessapp.audit"]
    assert records[-1]["event"] == "login_success"
    assert records[-1]["request_id"] == response.headers["X-Request-ID"]


def test_wrong_current_passwords_are_throttled_like_logins(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for _ in range(limit):
        token = testapp.csrf_token("/sessions")
        testapp.post("/sessions/revoke-others",
                     {"current_password": "not it at all", "csrf_token": token}, status=422)
    token = testapp.csrf_token("/sessions")
    response = testapp.post("/password", {"current_password": PASSWORD,
                                          "new_password": "another fine passphrase",
                                          "csrf_token": token}, status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert events(harness).count("reauth_failure") == limit


def test_a_user_sees_their_own_recent_sign_ins(harness, browser_factory):
    harness.make_user("alice")
    harness.make_user("bob")
    alice, bob = browser_factory("198.51.100.1"), browser_factory("198.51.100.2")
    alice.login("alice")
    bob.login("bob")
    page = alice.get("/sessions")
    assert "Signed in" in page.text
    assert "198.51.100.1" in page.text
    assert "198.51.100.2" not in page.text


def test_logs_hold_no_password_token_or_session_id(harness, testapp, audit_log):
    harness.make_user("alice")
    testapp.login("alice")
    session_token = testapp.session_token
    csrf = testapp.csrf_token("/profile")
    api = testapp.post_json("/api/tokens", {"name": "t", "expires_in_days": 1,
                                                "current_password": PASSWORD},
                            headers={"X-CSRF-Token": csrf}, status=201).json["token"]
    testapp.get("/api/me", headers={"Authorization": f"Bearer {api}"})
    testapp.get("/api/me", headers={"Authorization": "Bearer sessapp_" + "x" * 43}, status=401)
    testapp.logout()
    text = "\n".join(record.getMessage() for record in audit_log.records)
    assert "login_success" in text
    for secret in (PASSWORD, session_token, api, csrf):
        assert secret not in text


def test_audit_records_are_single_line_json_with_request_id(harness, testapp, audit_log):
    testapp.login("evil\r\n{\"event\": \"login_success\"}", "whatever password", status=422)
    records = [r for r in audit_log.records if r.name == "sessapp.audit"]
    assert records
    for record in records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message
        parsed = json.loads(message)
        assert parsed["event"] == "login_failure"
        assert parsed["request_id"]
        assert parsed["ts"].endswith("Z")
        assert parsed["ip"] == "192.0.2.10"
