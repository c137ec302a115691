"""Signing in and out, and proving it is still you (re-authentication).

One function per use case, each called by one view: the throttle, the password
check, the audit trail and the session rotation happen here, in this order, so
no view can forget one or do them in another order. A second place that signs
people in (registration, a second factor) calls :func:`start_session`, never a
copy of it.

Sudo mode lives here too: every proof of identity (sign-in, a re-entered
password, a TOTP code at ``/sudo``) stamps the session's ``authenticated_at``,
and :func:`confirm_identity` is the one rule sensitive use cases apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.security import forget, remember

from ..clock import get_clock
from ..i18n import _
from ..models import User
from . import (
    attempts,
    audit,
    devices,
    lockout,
    notices,
    one_time_links,
    outbox,
    pending,
    throttle,
    totp,
)
from .errors import AccountError, ProofRequired, Throttled
from .factor_policy import has_second_factor, must_enrol
from .users import authenticate

LOGIN_FAILED = _("That username and password do not match an active account.")
REAUTH_FAILED = _("That is not your current password.")
SUDO_CODE_FAILED = _("That code is not right.")
SUDO_NOTHING_GIVEN = _("Enter your password, or a code from your authenticator app.")
SUDO_CODE_MALFORMED = _("Enter the 6 digits your authenticator app shows.")
PROOF_REQUIRED = _("This needs a recent proof of identity: confirm it at /sudo, or send"
                   " your current password as current_password.")


class SignInRefused(AccountError):
    """The one answer for an unknown user, a wrong password and a disabled
    account alike."""


@dataclass(frozen=True)
class SignInOutcome:
    """What a right password led to: ``second_factor_due`` (not signed in yet:
    the browser goes to ``/login/mfa``), or signed in, with ``must_enrol`` when
    the user's roles require a factor they do not have yet."""

    user: User
    second_factor_due: bool = False
    must_enrol: bool = False


def sign_in(request: Any, username: str, password: str,
            target: str | None = None) -> SignInOutcome:
    """Check the password and sign ``username`` in; raises :class:`Throttled` or
    :class:`SignInRefused`.

    The attempt is counted before the password is checked (:mod:`.attempts`),
    so attempts sent at once cannot all pass the throttle; a right password
    gives the count back. A throttled attempt is refused unchecked and not
    counted, so hammering cannot extend the lock. Exactly one bcrypt check runs
    on every other path.

    A user with a second factor is not signed in by the password alone: the
    browser gets the half-signed-in state (:mod:`.pending`, remembering the
    safe ``target``) and the factor finishes the sign-in.
    A browser with the account's device cookie is judged by its own budget, so
    a lock made by others does not hold it; a success gives a new device cookie.
    """
    limits, now = request.registry.throttle_limits, get_clock(request.registry).now()
    device = devices.trusted_device(request, username)
    taken = attempts.take(request, throttle.sign_in_charges(limits, username,
                                                            request.client_addr, device), now)
    if taken.retry_after is not None:
        audit.record(request, "login_throttled", username=username, store=False)
        raise Throttled(throttle.wait_message(taken.retry_after), taken.retry_after)
    user = authenticate(request.dbsession, request.registry.password_hasher, username, password)
    if user is None:
        audit.record(request, "login_failure", username=username)
        if "login_account" in taken.took_last:
            lockout.account_locked(request, username)
        raise SignInRefused(LOGIN_FAILED)
    attempts.give_back(request, taken.hit_ids)
    if has_second_factor(user):
        pending.begin(request, user, target)
        audit.record(request, "login_password_ok", user=user,
                     session_public_id=request.session.public_id)
        return SignInOutcome(user, second_factor_due=True)
    start_session(request, user)
    return SignInOutcome(user, must_enrol=must_enrol(request.registry.sessapp_settings, user))


def start_session(request: Any, user: User) -> None:
    """Sign ``user`` in: a new session id (the old one dies in the same
    transaction), a new CSRF token, a new device cookie, an audit event naming
    the new session, and a notice by mail when this browser had never signed
    in to the account (it held no device cookie for it). The sign-in is a
    proof of identity: sudo mode starts."""
    new_browser = devices.trusted_device(request, user.username) is None
    remember(request, str(user.id), user=user)
    request.session.mark_authenticated()
    new_csrf_token(request)
    devices.issue(request, user)
    audit.record(request, "login_success", user=user,
                 session_public_id=request.session.public_id)
    if new_browser and user.verified_email is not None and outbox.enabled(request):
        settings, now = request.registry.sessapp_settings, get_clock(request.registry).now()
        token = one_time_links.issue(request.dbsession, user, one_time_links.END_SESSION, now,
                                     settings.auth.reset_timeout,
                                     session_public_id=request.session.public_id)
        outbox.queue(request, [notices.new_browser_sign_in(
            request, user, one_time_links.path(one_time_links.END_SESSION, token))])


def sign_out(request: Any, user: User | None) -> None:
    """End the current session: its row is deleted and its cookie expired.
    ``user`` is None for a browser that is only half signed in."""
    audit.record(request, "logout", user=user, session_public_id=request.session.public_id)
    forget(request)


def reauthenticate(request: Any, user: User, password: str) -> None:
    """Check that the signed-in ``user`` still knows the password; raises
    :class:`Throttled` or an :class:`AccountError` about ``current_password``.

    Re-entering the password is a sign-in in disguise: it is throttled and
    audited like one, so a stolen session cannot be used to guess it. Its budget
    is the session's own (keyed by its public id): other clients' failures on
    the account or the IP never block the owner's password change, and this
    session's failures never lock the account for anyone else.
    """
    judge_proof(request, user,
                lambda: request.registry.password_hasher.verify(password, user.password_hash),
                failure_event="reauth_failure", field="current_password", message=REAUTH_FAILED)


def judge_proof(request: Any, user: User, check: Callable[[], bool], *, failure_event: str,
                field: str, message: str, for_account: bool = False) -> None:
    """Run ``check`` (a password, a TOTP code...) within the session's own
    re-authentication budget: a success renews sudo mode; a failure is audited
    as ``failure_event``, counted, and raised as an :class:`AccountError` about
    ``field``; past the budget, :class:`Throttled` without running ``check``."""
    limit, now = request.registry.throttle_limits["reauth_session"], \
        get_clock(request.registry).now()
    taken = attempts.take(request, [(limit, request.session.public_id)], now)
    if taken.retry_after is not None:
        audit.record(request, "login_throttled", user=user, store=False)
        raise Throttled(throttle.wait_message(taken.retry_after), taken.retry_after, field)
    if check():
        attempts.give_back(request, taken.hit_ids)
        request.session.mark_authenticated()
        return
    # /sudo's failures also count toward the account's budget for strangers'
    # sign-ins (``for_account``), so a stolen session cannot guess there past
    # the lock the sign-in form would impose; they are checked only against
    # this session's budget above, so nobody else's failures ever block it.
    also = [request.registry.throttle_limits["login_account"].hit(
        throttle.username_key(user.username), now)] if for_account else []
    audit.record(request, failure_event, user=user, also=also)
    raise AccountError(message, field)


def in_sudo_mode(request: Any) -> bool:
    """Whether this session's last proof of identity is recent enough for a
    sensitive action (``auth.sudo_timeout``). Reads the session row already
    loaded: no statement."""
    timeout = request.registry.sessapp_settings.auth.sudo_timeout
    return request.session.authenticated_within(timeout)


def confirm_identity(request: Any, user: User, current_password: str) -> None:
    """The proof a sensitive action needs, and the one place that decides it.

    A ``current_password`` given is judged whatever the sudo state: right, it
    is the proof (and renews sudo mode); wrong, an :class:`AccountError` about
    ``current_password``, counted by the throttle. Without one, a recent proof
    in this session (sudo mode) stands in for it; else :class:`ProofRequired`,
    with nothing checked or counted.
    """
    if current_password:
        reauthenticate(request, user, current_password)
        return
    if not in_sudo_mode(request):
        raise ProofRequired(PROOF_REQUIRED, "current_password")


def renew_sudo(request: Any, user: User, password: str = "", code: str = "") -> None:
    """``POST /sudo``: the password, or a current TOTP code (each code once),
    renews sudo mode. Failures are audited (``sudo_failure``) and counted like
    any re-authentication (:func:`judge_proof`), and toward the account's lock
    for strangers as well; raises :class:`AccountError`
    naming ``password`` or ``code``, or :class:`Throttled`."""
    if password:
        judge_proof(request, user,
                    lambda: request.registry.password_hasher.verify(password, user.password_hash),
                    failure_event="sudo_failure", field="password", message=REAUTH_FAILED,
                    for_account=True)
    elif code:
        if totp.normalise_code(code) is None:
            raise AccountError(SUDO_CODE_MALFORMED, "code")
        server_secret = request.registry.sessapp_settings.secret.value
        judge_proof(request, user,
                    lambda: totp.check_code(request.dbsession, server_secret, user, code,
                                            get_clock(request.registry).now()),
                    failure_event="sudo_failure", field="code", message=SUDO_CODE_FAILED,
                    for_account=True)
    else:
        raise AccountError(SUDO_NOTHING_GIVEN, "password")
    audit.record(request, "sudo_granted", user=user, session_public_id=request.session.public_id)
