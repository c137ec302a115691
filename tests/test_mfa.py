"""Second factors: TOTP enrolment, signing in with a code or a recovery code,
the half-signed-in state, replay and drift, the throttle, required roles, the
admin's reset. Codes come from pyotp at the app's (movable) clock."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import new_browser, signed_in_as, who_is_signed_in
from mfa_helpers import code_at, code_step, enrol, next_step, password_step

from sessapp.accounts import pending, recovery_codes, totp
from sessapp.models import User
from sessapp.sessions.tokens import hash_token


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def enrolled(harness: Any, testapp: Any, alice: int) -> dict[str, Any]:
    """alice with TOTP on, signed out again; her secret and recovery codes."""
    testapp.login("alice")
    secret, codes = enrol(testapp, harness)
    testapp.logout()
    return {"secret": secret, "codes": codes}


def events(harness: Any, event: str) -> int:
    return harness.count("auth_events", "event = :event", event=event)


def user_row(harness: Any, user_id: int) -> User:
    with harness.transaction() as dbsession:
        user = dbsession.get(User, user_id)
        dbsession.expunge(user)
        return user


# -- enrolment --------------------------------------------------------------------


def test_enrolment_shows_an_inline_svg_qr_code_and_the_secret(harness, testapp, alice):
    testapp.login("alice")
    page = testapp.get("/mfa/totp", status=200)
    secret = page.html.find(id="totp-secret").get_text(strip=True)
    assert len(secret) == 32 and secret.isalnum() and secret.isupper()
    svg = page.html.select_one(".totp-qr svg")
    assert svg is not None and svg.find("path") is not None
    assert page.html.select_one("main img") is None  # the code is inline, no image file
    assert "no-store" in page.headers["Cache-Control"]
    # Reloading the page keeps the same secret until it is confirmed.
    again = testapp.get("/mfa/totp").html.find(id="totp-secret").get_text(strip=True)
    assert again == secret
    assert user_row(harness, alice).totp_enabled_at is None


def test_a_wrong_code_at_enrolment_is_422_and_turns_nothing_on(harness, testapp, alice):
    testapp.login("alice")
    page = testapp.get("/mfa/totp")
    secret = page.html.find(id="totp-secret").get_text(strip=True)
    wrong = code_at(secret, harness, steps=5)
    for code in (wrong, "12345", "abcdef", "1" * 90):
        response = testapp.post("/mfa/totp", {"code": code,
                                              "csrf_token": testapp.csrf_token("/mfa")},
                                status=422)
        assert response.html.find(id="code-error") is not None
    assert user_row(harness, alice).totp_enabled_at is None
    assert harness.count("recovery_codes") == 0


def test_the_right_code_turns_totp_on_and_shows_ten_recovery_codes_once(
        harness, testapp, alice):
    testapp.login("alice")
    secret, codes = enrol(testapp, harness)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(recovery_codes.normalise(code) for code in codes)
    user = user_row(harness, alice)
    assert user.totp_enabled_at is not None
    assert events(harness, "mfa_totp_enabled") == 1
    # Stored encrypted: the database alone does not hold the secret.
    assert secret not in user.totp_secret
    server_secret = harness.registry.sessapp_settings.secret.value
    assert totp.decrypt(server_secret, alice, user.totp_secret) == secret
    assert totp.decrypt(server_secret, alice + 1, user.totp_secret) is None
    assert totp.decrypt(b"another secret of at least 32 bytes!", alice, user.totp_secret) is None
    # And the codes are stored hashed, never in clear.
    with harness.engine.connect() as connection:
        stored = " ".join(row[0] for row in connection.exec_driver_sql(
            "SELECT code_hash FROM recovery_codes"))
    assert not any(recovery_codes.normalise(code) in stored for code in codes)
    # The /mfa page now says so, and never shows the codes again.
    page = testapp.get("/mfa")
    assert page.html.select_one("#totp .factor-state").get_text(strip=True) == "On"
    assert page.html.find(id="recovery-codes-left").get_text(strip=True) == "10"
    assert not page.html.select(".recovery-code")


def test_sessions_page_and_admin_list_show_who_has_a_second_factor(harness, testapp, alice):
    harness.make_user("root", admin=True)
    testapp.login("alice")
    assert "off" in testapp.get("/sessions").html.find(id="mfa-state").get_text()
    enrol(testapp, harness)
    assert "on" in testapp.get("/sessions").html.find(id="mfa-state").get_text()
    root = new_browser(harness, "198.51.100.9")
    root.login("root")
    rows = {row.find("td").get_text(strip=True): row.select_one(".second-factor")
            .get_text(strip=True) for row in root.get("/admin").html.select("tbody tr")
            if row.select_one(".second-factor")}
    assert rows == {"alice": "yes", "root": "no"}


# -- signing in with a second factor --------------------------------------------------


def test_the_password_alone_only_half_signs_in(harness, testapp, enrolled):
    password_step(testapp)
    half_token = testapp.session_token
    # No identity to any policy: pages, the API (cookie only, no bearer), sudo.
    assert signed_in_as(testapp) is None
    assert who_is_signed_in(testapp) is None
    testapp.get("/api/tokens", status=401)
    assert testapp.get("/sessions", status=303).location.endswith("/login?next=%2Fsessions")
    assert testapp.get("/mfa", status=303).location.endswith("/login?next=%2Fmfa")
    assert testapp.get("/sudo", status=303).location.startswith("http://localhost/login")
    assert harness.count("sessions", "user_id IS NOT NULL") == 0
    # The code finishes it, on a new session id.
    response = code_step(testapp, code_at(enrolled["secret"], harness))
    assert response.location.endswith("/profile")
    assert testapp.session_token != half_token
    assert harness.count("sessions", "token_hash = :h", h=hash_token(half_token)) == 0
    assert signed_in_as(testapp) == "alice"
    assert who_is_signed_in(testapp) == "alice"


def test_the_second_step_keeps_next(harness, testapp, enrolled):
    response = testapp.login("alice", next="/sessions")
    assert response.location.endswith("/login/mfa?next=%2Fsessions")
    response = code_step(testapp, code_at(enrolled["secret"], harness))
    assert response.location.endswith("/sessions")


def test_a_code_is_accepted_once(harness, testapp, enrolled):
    code = code_at(enrolled["secret"], harness)
    password_step(testapp)
    code_step(testapp, code)
    testapp.logout()
    password_step(testapp)
    code_step(testapp, code, status=422)
    assert signed_in_as(testapp) is None
    # Even a code of an earlier step than the last one used is spent.
    code_step(testapp, code_at(enrolled["secret"], harness, steps=-1), status=422)
    code_step(testapp, code_at(enrolled["secret"], harness, steps=1))


def test_the_code_used_to_enrol_does_not_sign_in(harness, testapp, alice):
    testapp.login("alice")
    page = testapp.get("/mfa/totp")
    secret = page.html.find(id="totp-secret").get_text(strip=True)
    code = code_at(secret, harness)
    testapp.post("/mfa/totp", {"code": code, "csrf_token": testapp.csrf_token("/mfa")})
    testapp.logout()
    password_step(testapp)
    code_step(testapp, code, status=422)


@pytest.mark.parametrize("steps, accepted", [(-2, False), (-1, True), (1, True), (2, False)])
def test_one_step_of_clock_drift_either_way(harness, testapp, enrolled, steps, accepted):
    next_step(harness)
    next_step(harness)
    password_step(testapp)
    code_step(testapp, code_at(enrolled["secret"], harness, steps=steps),
              status=303 if accepted else 422)


def test_two_requests_with_one_code_cannot_both_claim_its_step(harness, alice, enrolled):
    """The step is claimed by a conditional UPDATE: the loser of a race finds it taken."""
    server_secret = harness.registry.sessapp_settings.secret.value
    code = code_at(enrolled["secret"], harness)
    now = harness.clock.now()
    with harness.transaction() as first:
        user = first.get(User, alice)
        stale = user_row(harness, alice)  # read before the first claim commits
        assert totp.check_code(first, server_secret, user, code, now)
    with harness.transaction() as second:
        assert not totp.claim_step(second, stale, totp.step_at(now))


def test_the_half_state_dies_after_five_minutes(harness, testapp, enrolled):
    password_step(testapp)
    harness.clock.advance(pending.LIFETIME + 1)
    assert testapp.get("/login/mfa", status=303).location.endswith("/login")
    response = code_step(testapp, code_at(enrolled["secret"], harness))
    assert response.location.endswith("/login")
    assert signed_in_as(testapp) is None


def test_signing_out_ends_the_half_state(harness, testapp, enrolled):
    password_step(testapp)
    half_token = testapp.session_token
    testapp.post("/logout", {"csrf_token": testapp.csrf_token("/login")}, status=303)
    assert harness.count("sessions", "token_hash = :h", h=hash_token(half_token)) == 0
    response = code_step(testapp, code_at(enrolled["secret"], harness))
    assert response.location.endswith("/login")
    assert signed_in_as(testapp) is None


def test_malformed_codes_are_422_and_not_counted(harness, testapp, enrolled):
    password_step(testapp)
    for code in ("", "12345", "1234567", "abcdef", "ü" * 6, "x" * 99, "123-456"):
        code_step(testapp, code, status=422)
    assert harness.count("throttle_hits") == 0


def test_wrong_codes_are_counted_and_throttled_like_wrong_passwords(harness, testapp, enrolled):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    stranger = new_browser(harness, "203.0.113.5")  # no device cookie of alice's
    password_step(stranger)
    wrong = code_at(enrolled["secret"], harness, steps=10)
    for _ in range(limit - 1):
        code_step(stranger, wrong, status=422)
    assert events(harness, "mfa_failure") == limit - 1
    assert harness.count("throttle_hits", "scope = 'login_account'") == limit - 1
    code_step(stranger, wrong, status=422)
    response = code_step(stranger, code_at(enrolled["secret"], harness), status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert signed_in_as(stranger) is None


def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(harness, testapp, enrolled):
    code = enrolled["codes"][0]
    password_step(testapp)
    code_step(testapp, code.upper().replace("-", " "))
    assert "9 left" in testapp.get("/profile").text
    assert signed_in_as(testapp) == "alice"
    assert events(harness, "mfa_recovery_code_used") == 1
    testapp.logout()
    password_step(testapp)
    code_step(testapp, code, status=422)
    code_step(testapp, enrolled["codes"][1])


def test_new_recovery_codes_replace_the_old_ones(harness, testapp, enrolled):
    password_step(testapp)
    code_step(testapp, code_at(enrolled["secret"], harness))
    page = testapp.post("/mfa/recovery-codes", {"csrf_token": testapp.csrf_token("/mfa")},
                        status=200)
    fresh = [element.get_text(strip=True) for element in page.html.select(".recovery-code")]
    assert len(fresh) == 10 and not set(fresh) & set(enrolled["codes"])
    assert events(harness, "mfa_recovery_codes_regenerated") == 1
    testapp.logout()
    password_step(testapp)
    code_step(testapp, enrolled["codes"][0], status=422)
    code_step(testapp, fresh[0])


def test_turning_totp_off_lets_the_password_alone_sign_in(harness, testapp, enrolled):
    password_step(testapp)
    code_step(testapp, code_at(enrolled["secret"], harness))
    testapp.post("/mfa/totp/disable", {"csrf_token": testapp.csrf_token("/mfa")}, status=303)
    assert events(harness, "mfa_totp_disabled") == 1
    assert harness.count("recovery_codes") == 0
    testapp.logout()
    assert testapp.login("alice").location.endswith("/profile")


def test_a_signed_in_read_is_still_one_statement_with_totp_on(harness, testapp, enrolled):
    password_step(testapp)
    code_step(testapp, code_at(enrolled["secret"], harness))
    testapp.get("/profile")
    harness.sql.clear()
    testapp.get("/profile", status=200)
    assert len(harness.sql.statements) == 1
    assert harness.sql.writes == []


# -- roles that must have a second factor ---------------------------------------------


@pytest.fixture
def strict(make_harness: Any) -> Any:
    return make_harness(**{"auth.mfa.required_roles": "admin"})


def test_a_required_role_without_a_factor_must_enrol_first(strict):
    strict.make_user("root", admin=True)
    strict.make_user("bob")
    root = new_browser(strict)
    response = root.login("root", next="/admin")
    assert response.location.endswith("/mfa/totp")
    # Nothing else: pages and the API refuse, sending the browser to enrol.
    assert root.get("/admin", status=303).location.endswith("/mfa/totp")
    assert root.get("/sessions", status=303).location.endswith("/mfa/totp")
    assert root.get("/api/me", status=403).json["error"]
    root.get("/mfa", status=200)
    # Other roles are not held.
    bob = new_browser(strict, "198.51.100.4")
    assert bob.login("bob").location.endswith("/profile")
    secret, _codes = enrol(root, strict)
    root.get("/admin", status=200)
    assert root.get("/api/me").json["username"] == "root"
    root.logout()
    password_step(root, "root")
    code_step(root, code_at(secret, strict))


# -- the admin's reset ----------------------------------------------------------------


def test_an_admin_resets_a_users_second_factors(harness, testapp, alice, enrolled):
    harness.make_user("root", admin=True)
    root = new_browser(harness, "198.51.100.9")
    root.login("root")
    response = root.post(f"/admin/users/{alice}/reset-mfa",
                         {"csrf_token": root.csrf_token("/admin")}, status=303)
    assert response.location.endswith("/admin")
    assert events(harness, "admin_reset_mfa") == 1
    assert harness.count("recovery_codes") == 0
    assert testapp.login("alice").location.endswith("/profile")


def test_the_reset_needs_sudo_mode_and_the_admin_permission(harness, testapp, alice,
                                                            enrolled):
    harness.make_user("root", admin=True)
    harness.make_user("bob")
    bob = new_browser(harness, "198.51.100.8")
    bob.login("bob")
    bob.post(f"/admin/users/{alice}/reset-mfa", {"csrf_token": bob.csrf_token("/profile")},
             status=403)
    root = new_browser(harness, "198.51.100.9")
    root.login("root")
    token = root.csrf_token("/admin")
    harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
    response = root.post(f"/admin/users/{alice}/reset-mfa", {"csrf_token": token},
                         status=303)
    assert response.location.endswith("/sudo?next=%2Fadmin")
    assert events(harness, "admin_reset_mfa") == 0
    assert harness.count("recovery_codes") == 10
    password_step(testapp)  # the password alone still does not sign alice in
