"""The use cases of ``sessapp.accounts``, called as a view calls them but without
HTTP: a request made as a script makes one, committed or aborted by the test.

What each asserts is the use case's own promise (what it refuses, what it
counts, what it records, what it rotates), so a view that forgets nothing is
only left to parse and render.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import PASSWORD
from pyramid.interfaces import IRequestFactory
from pyramid.scripting import prepare

from sessapp.accounts import admin, attempts, devices, own_account, registration, signin
from sessapp.accounts.errors import AccountError, NotFound, ProofRequired, Throttled
from sessapp.accounts.usernames import username_key
from sessapp.models import User

ATTACKER_IP = "203.0.113.9"


@contextmanager
def request_for(harness: Any, *, ip: str = "192.0.2.10", commit: bool = True,
                user_id: int | None = None, cookie: str = "") -> Iterator[Any]:
    """A request of the app in its own transaction (committed unless the test
    raised or ``commit`` is false); finished callbacks run at the end, as after
    a response. ``user_id`` signs the request's session in first; ``cookie`` is
    the Cookie header it carries.

    The sign-in is a request of its own, committed before this one, as in a
    browser: a use case that counts an attempt (:mod:`sessapp.accounts.attempts`)
    writes apart from the request, which on SQLite must not already hold the
    write lock."""
    if user_id is not None:
        with request_for(harness, ip=ip, cookie=cookie) as first:
            signin.start_session(first, first.dbsession.get(User, user_id))
            session = first.session
        name = harness.registry.sessapp_settings.session.cookie_name
        cookie = "; ".join(filter(None, [f"{name}={session._issued_token}", cookie]))
    factory = harness.registry.getUtility(IRequestFactory)
    request = factory.blank("/", environ={"REMOTE_ADDR": ip, "HTTP_USER_AGENT": "tests",
                                          "HTTP_COOKIE": cookie})
    env = prepare(request=request, registry=harness.registry)
    request.tm.begin()
    try:
        yield request
    except BaseException:
        request.tm.abort()
        raise
    else:
        if commit:
            request.tm.commit()
        else:
            request.tm.abort()
    finally:
        env["closer"]()


def _events(harness: Any, event: str) -> int:
    return harness.count("auth_events", "event = :event", event=event)


def test_sign_in_rotates_the_session_and_records_the_success(harness):
    user_id = harness.make_user()
    with request_for(harness) as request:
        before = request.session.public_id
        user = signin.sign_in(request, "alice", PASSWORD).user
        assert user.id == user_id
        assert request.session.user_id == user_id
        assert request.session.public_id != before
        public_id = request.session.public_id
    assert harness.count("sessions", "public_id = :p AND user_id = :u",
                         p=public_id, u=user_id) == 1
    assert _events(harness, "login_success") == 1


@pytest.mark.parametrize("username, password", [("alice", "wrong password"),
                                                ("nobody", PASSWORD)])
def test_sign_in_refuses_unknown_users_and_wrong_passwords_alike(harness, username, password):
    harness.make_user()
    with request_for(harness, commit=False) as request:
        with pytest.raises(signin.SignInRefused) as refused:
            signin.sign_in(request, username, password)
        assert request.session.user_id is None
    assert str(refused.value) == signin.LOGIN_FAILED
    # The failure and its throttle counts are stored although the request rolled back.
    assert _events(harness, "login_failure") == 1
    assert harness.count("throttle_hits", "scope = 'login_account'") == 1
    assert harness.count("throttle_hits", "scope = 'login_ip'") == 1


def test_sign_in_is_refused_unchecked_once_throttled(harness, bcrypt_calls):
    harness.make_user()
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for _ in range(limit):
        with request_for(harness, ip=ATTACKER_IP, commit=False) as request, \
                pytest.raises(signin.SignInRefused):
            signin.sign_in(request, "alice", "wrong password")
    bcrypt_calls.reset()
    with request_for(harness, commit=False) as request, pytest.raises(Throttled) as throttled:
        signin.sign_in(request, "alice", PASSWORD)
    assert throttled.value.retry_after > 0
    assert bcrypt_calls.checked == 0
    # Refused attempts are not counted: hammering cannot extend the lock.
    assert harness.count("throttle_hits", "scope = 'login_account'") == limit


def test_reauthentication_names_the_field_and_counts_the_failure(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id, commit=False) as request:
        user = request.dbsession.get(User, user_id)
        signin.reauthenticate(request, user, PASSWORD)  # right: no exception
        with pytest.raises(AccountError) as refused:
            signin.reauthenticate(request, user, "not it")
    assert refused.value.field == "current_password"
    assert str(refused.value) == signin.REAUTH_FAILED
    assert _events(harness, "reauth_failure") == 1
    # Counted against the session alone: the account stays open to sign-ins.
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1
    assert harness.count("throttle_hits", "scope = 'login_account'") == 0


def _lock_for_strangers(harness: Any, username: str = "alice") -> None:
    for _ in range(harness.registry.sessapp_settings.auth.throttle_max_failures):
        with request_for(harness, ip=ATTACKER_IP, commit=False) as request, \
                pytest.raises(signin.SignInRefused):
            signin.sign_in(request, username, "wrong")


def _device_cookie_for(harness: Any, username: str) -> str:
    key = devices.signing_key(harness.registry.sessapp_settings)
    return f"device={devices.encode(key, username_key(username), 'some-nonce')}"


def test_sign_in_with_the_accounts_device_cookie_is_not_held_by_its_lock(harness):
    harness.make_user()
    _lock_for_strangers(harness)
    assert _events(harness, "account_locked") == 1
    with request_for(harness, commit=False) as request, pytest.raises(Throttled):
        signin.sign_in(request, "alice", PASSWORD)
    bobs = _device_cookie_for(harness, "bob")
    with request_for(harness, commit=False, cookie=bobs) as request, pytest.raises(Throttled):
        signin.sign_in(request, "alice", PASSWORD)
    with request_for(harness, cookie=_device_cookie_for(harness, "ALICE")) as request:
        assert signin.sign_in(request, "alice", PASSWORD).user.username == "alice"


def test_a_trusted_devices_failure_counts_against_that_device_alone(harness):
    harness.make_user()
    with request_for(harness, commit=False, cookie=_device_cookie_for(harness, "alice")) \
            as request, pytest.raises(signin.SignInRefused):
        signin.sign_in(request, "alice", "wrong")
    assert harness.count("throttle_hits", "scope = 'login_device'") == 1
    assert harness.count("throttle_hits", "scope <> 'login_device'") == 0


def test_reauthentication_is_not_held_by_a_lock_on_the_account(harness):
    user_id = harness.make_user()
    _lock_for_strangers(harness)
    with request_for(harness, ip=ATTACKER_IP, user_id=user_id, commit=False) as request:
        signin.reauthenticate(request, request.dbsession.get(User, user_id), PASSWORD)


def test_change_password_refused_by_a_wrong_current_password_changes_nothing(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id) as request:
        user = request.dbsession.get(User, user_id)
        old_hash = user.password_hash
        with pytest.raises(AccountError) as refused:
            own_account.change_password(request, user, "not it", "a new long passphrase 42")
        assert user.password_hash == old_hash
    assert refused.value.field == "current_password"


def test_change_password_ends_other_sessions_and_rotates_this_one(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id):
        pass
    with request_for(harness, user_id=user_id) as request:
        user = request.dbsession.get(User, user_id)
        before = request.session.public_id
        own_account.change_password(request, user, PASSWORD, "a new long passphrase 42")
        assert request.session.public_id != before
        current = request.session.public_id
    assert harness.count("sessions", "user_id = :u", u=user_id) == 1
    assert harness.count("sessions", "public_id = :p", p=current) == 1


def test_a_weak_new_password_is_about_the_new_password_field(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id, commit=False) as request, \
            pytest.raises(AccountError) as refused:
        own_account.change_password(request, request.dbsession.get(User, user_id),
                                    PASSWORD, "short")
    assert refused.value.field == "new_password"


def test_ending_someone_elses_session_is_not_found(harness):
    alice = harness.make_user("alice")
    bob = harness.make_user("bob")
    with request_for(harness, user_id=bob) as request:
        bobs = request.session.public_id
    with request_for(harness, user_id=alice) as request, pytest.raises(NotFound):
        own_account.end_session(request, request.dbsession.get(User, alice), bobs)
    assert harness.count("sessions", "public_id = :p", p=bobs) == 1


def test_registration_counts_every_attempt_against_the_ip(harness):
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for number in range(limit):
        with request_for(harness, ip=ATTACKER_IP) as request:
            registration.register(request, f"user{number}", PASSWORD)
    with request_for(harness, ip=ATTACKER_IP) as request, pytest.raises(Throttled):
        registration.register(request, "one-more", PASSWORD)
    assert harness.count("users") == limit
    with request_for(harness) as request:  # another IP is not affected
        user = registration.register(request, "elsewhere", PASSWORD)
        assert request.session.user_id == user.id


def test_api_token_issue_names_the_bad_field(harness):
    user_id = harness.make_user()
    max_days = harness.registry.sessapp_settings.auth.api_token_max_days
    with request_for(harness, user_id=user_id, commit=False) as request:
        user = request.dbsession.get(User, user_id)
        for name, days, field in [("", 30, "name"), ("a\nb", 30, "name"),
                                  ("ok", 0, "expires_in_days"),
                                  ("ok", max_days + 1, "expires_in_days"),
                                  ("ok", True, "expires_in_days")]:
            with pytest.raises(AccountError) as refused:
                own_account.issue_token(request, user, name, days, None, PASSWORD)
            assert refused.value.field == field
    assert harness.count("api_tokens") == 0


def test_issuing_a_token_needs_the_current_password(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id) as request:
        user = request.dbsession.get(User, user_id)
        # Signing in is a proof; once it is older than auth.sudo_timeout it is not.
        harness.clock.advance(harness.registry.sessapp_settings.auth.sudo_timeout + 1)
        with pytest.raises(ProofRequired) as missing:
            own_account.issue_token(request, user, "ci", 30, None, "")
        assert missing.value.field == "current_password"
        with pytest.raises(AccountError) as wrong:
            own_account.issue_token(request, user, "ci", 30, None, "not it")
        assert wrong.value.field == "current_password"
        token, _secret = own_account.issue_token(request, user, "ci", 30, ["write"], PASSWORD)
        assert token.scopes == ["write"]
    assert harness.count("api_tokens") == 1
    assert _events(harness, "reauth_failure") == 1  # the missing one was not a guess
    assert harness.count("throttle_hits", "scope = 'reauth_session'") == 1


def test_only_an_admin_may_issue_an_admin_token(harness):
    alice = harness.make_user("alice")
    root = harness.make_user("root", admin=True)
    with request_for(harness, user_id=alice, commit=False) as request, \
            pytest.raises(AccountError) as refused:
        own_account.issue_token(request, request.dbsession.get(User, alice), "a", 30,
                                ["admin"], PASSWORD)
    assert refused.value.field == "scopes"
    with request_for(harness, user_id=root) as request:
        token, _secret = own_account.issue_token(request, request.dbsession.get(User, root),
                                                 "a", 30, ["read", "admin"], PASSWORD)
        assert token.scopes == ["read", "admin"]


def _live_tokens(harness: Any, user_id: int) -> int:
    return harness.count("api_tokens", "user_id = :u AND revoked_at IS NULL", u=user_id)


def test_ending_other_sessions_revokes_tokens_only_when_asked(harness):
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id) as request:
        own_account.issue_token(request, request.dbsession.get(User, user_id), "ci", 30,
                                None, PASSWORD)
    with request_for(harness, user_id=user_id) as request:
        user = request.dbsession.get(User, user_id)
        assert own_account.end_other_sessions(request, user, PASSWORD) == (1, 0)
    assert _live_tokens(harness, user_id) == 1
    with request_for(harness, user_id=user_id) as request:
        user = request.dbsession.get(User, user_id)
        assert own_account.end_other_sessions(request, user, PASSWORD,
                                              revoke_tokens=True) == (1, 1)
    assert _live_tokens(harness, user_id) == 0
    assert _events(harness, "api_tokens_revoked_all") == 1


def test_an_admin_ending_a_users_sessions_revokes_their_tokens(harness):
    admin_id = harness.make_user("root", admin=True)
    alice = harness.make_user("alice")
    with request_for(harness, user_id=alice) as request:
        own_account.issue_token(request, request.dbsession.get(User, alice), "ci", 30,
                                None, PASSWORD)
    with request_for(harness, user_id=admin_id) as request:
        ended = admin.end_user_sessions(request, request.dbsession.get(User, admin_id),
                                        request.dbsession.get(User, alice))
    assert ended == (1, 1)
    assert _live_tokens(harness, alice) == 0


def test_api_token_withdraw_refuses_another_users_token(harness):
    alice = harness.make_user("alice")
    bob = harness.make_user("bob")
    with request_for(harness, user_id=bob) as request:
        token, _secret = own_account.issue_token(request, request.dbsession.get(User, bob),
                                                 "b", 30, None, PASSWORD)
        token_id = token.id
    with request_for(harness, user_id=alice) as request:
        with pytest.raises(NotFound):
            own_account.withdraw_token(request, request.dbsession.get(User, alice), token_id)
        with pytest.raises(NotFound):
            own_account.withdraw_token(request, request.dbsession.get(User, alice), None)
    assert harness.count("api_tokens", "revoked_at IS NULL") == 1


def test_an_admin_cannot_disable_their_own_account(harness):
    admin_id = harness.make_user("root", admin=True)
    with request_for(harness, user_id=admin_id) as request:
        me = request.dbsession.get(User, admin_id)
        with pytest.raises(AccountError):
            admin.disable_user(request, me, me)
        assert me.disabled is False


def test_ending_everyones_sessions_spares_the_admins_current_one(harness):
    admin_id = harness.make_user("root", admin=True)
    alice = harness.make_user("alice")
    with request_for(harness, user_id=alice):
        pass
    with request_for(harness, user_id=admin_id):
        pass
    with request_for(harness, user_id=admin_id) as request:
        ended = admin.end_everyones_sessions(request, request.dbsession.get(User, admin_id))
        current = request.session.public_id
    assert ended == 2
    assert harness.count("sessions", "user_id IS NOT NULL") == 1
    assert harness.count("sessions", "public_id = :p", p=current) == 1
    assert _events(harness, "admin_revoke_everyone") == 1


@pytest.mark.backends("sqlite")
def test_counting_an_attempt_after_a_write_on_sqlite_is_refused_at_once(harness):
    """Not a 10 s wait for the request's own write lock and a 'database is locked'."""
    user_id = harness.make_user()
    with request_for(harness, user_id=user_id, commit=False) as request:
        user = request.dbsession.get(User, user_id)
        request.dbsession.execute(User.__table__.update().where(User.id == user_id)
                                  .values(disabled=False))
        with pytest.raises(attempts.WroteFirst):
            signin.reauthenticate(request, user, "not it")
    assert harness.count("throttle_hits") == 0
