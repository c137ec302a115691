"""Signing in and out, and proving it is still you (re-authentication).

One function per use case, each called by one view: the throttle, the password
check, the audit trail and the session rotation happen here, in this order, so
no view can forget one or do them in another order. A second place that signs
people in (registration) calls :func:`start_session`, never a copy of it.
"""

from __future__ import annotations

from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.security import forget, remember

from ..clock import get_clock
from ..models import User
from . import audit, devices, lockout, notices, one_time_links, outbox, throttle
from .errors import AccountError, ProofRequired, Throttled
from .users import authenticate

LOGIN_FAILED = "That username and password do not match an active account."
REAUTH_FAILED = "That is not your current password."
PROOF_REQUIRED = "This needs your current password: send it as current_password."


class SignInRefused(AccountError):
    """The one answer for an unknown user, a wrong password and a disabled
    account alike."""


def sign_in(request: Any, username: str, password: str) -> User:
    """Check the password and sign ``username`` in; raises :class:`Throttled` or
    :class:`SignInRefused`.

    A throttled attempt is refused unchecked and not counted, so hammering
    cannot extend the lock. Exactly one bcrypt check runs on every other path.
    A browser with the account's device cookie is judged by its own budget, so
    a lock made by others does not hold it; a success gives a new device cookie.
    """
    limits, now = request.registry.throttle_limits, get_clock(request.registry).now()
    device = devices.trusted_device(request, username)
    budget = throttle.sign_in_budget(request.dbsession, limits, username,
                                     request.client_addr, device, now)
    if budget.retry_after is not None:
        audit.record(request, "login_throttled", username=username, store=False)
        raise Throttled(throttle.wait_message(budget.retry_after), budget.retry_after)
    user = authenticate(request.dbsession, request.registry.password_hasher, username, password)
    if user is None:
        audit.record(request, "login_failure", username=username,
                     also=throttle.login_failure_hits(limits, username, request.client_addr,
                                                      device, now))
        if budget.locks_account:
            lockout.account_locked(request, username)
        raise SignInRefused(LOGIN_FAILED)
    start_session(request, user)
    return user


def start_session(request: Any, user: User) -> None:
    """Sign ``user`` in: a new session id (the old one dies in the same
    transaction), a new CSRF token, a new device cookie, an audit event naming
    the new session, and a notice by mail when this browser had never signed
    in to the account (it held no device cookie for it)."""
    new_browser = devices.trusted_device(request, user.username) is None
    remember(request, str(user.id), user=user)
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


def sign_out(request: Any, user: User) -> None:
    """End the current session: its row is deleted and its cookie expired."""
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
    limit, now = request.registry.throttle_limits["reauth_session"], \
        get_clock(request.registry).now()
    key = request.session.public_id
    wait = limit.retry_after(request.dbsession, key, now)
    if wait is not None:
        audit.record(request, "login_throttled", user=user, store=False)
        raise Throttled(throttle.wait_message(wait), wait, "current_password")
    if request.registry.password_hasher.verify(password, user.password_hash):
        return
    audit.record(request, "reauth_failure", user=user, also=[limit.hit(key, now)])
    raise AccountError(REAUTH_FAILED, "current_password")


def confirm_identity(request: Any, user: User, current_password: str) -> None:
    """The proof a sensitive action needs: :class:`ProofRequired` when none was
    given, else :func:`reauthenticate` judges the password.

    The one place that decides what counts as proof, so that sudo mode (a
    recent re-authentication standing in for the password) is added here.
    """
    if not current_password:
        raise ProofRequired(PROOF_REQUIRED, "current_password")
    reauthenticate(request, user, current_password)
