"""The second step of signing in: a TOTP code or a recovery code turns the
half-signed-in state (:mod:`.pending`) into a session.

A wrong code is a failed sign-in: it is throttled by the same budgets as a
wrong password (the account's and the IP's, or a trusted device's own) and can
lock the account for strangers the same way. Another factor (a passkey) checks
its own proof and then calls :func:`complete_second_factor`.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..i18n import _, ngettext, translate
from ..models import User
from . import attempts, audit, devices, lockout, pending, recovery_codes, throttle, totp
from .errors import AccountError, Throttled
from .signin import start_session

WRONG_CODE = _("That code is not right.")
MALFORMED_CODE = _("Enter the 6 digits your authenticator app shows, or one of your recovery"
                   " codes.")
EXPIRED = _("The sign-in took too long. Please enter your password again.")


class SecondFactorExpired(AccountError):
    """No live half-signed-in state: start again at the password."""


def complete_second_factor(request: Any, user: User) -> str | None:
    """Finish the sign-in that :mod:`.pending` holds for ``user``, once a factor
    has been checked: a new session id, signed in, sudo mode on. Returns the
    ``next`` the login form was given (already checked as a safe local path).
    Raises :class:`SecondFactorExpired` if the state is gone or names another user."""
    state = pending.current(request)
    if state is None or state.user.id != user.id:
        raise SecondFactorExpired(EXPIRED)
    pending.clear(request)
    start_session(request, user)
    return state.next


def verify_second_factor(request: Any, code: str) -> str | None:
    """Check ``code`` (TOTP or recovery code) for the half-signed-in user and
    sign them in; the ``next`` to go to. Raises :class:`SecondFactorExpired`,
    :class:`Throttled`, or :class:`AccountError` (field ``code``) for a
    malformed (not counted) or wrong (counted) code."""
    state = pending.current(request)
    if state is None:
        raise SecondFactorExpired(EXPIRED)
    user = state.user
    is_totp = totp.normalise_code(code) is not None
    if not is_totp and recovery_codes.normalise(code) is None:
        raise AccountError(MALFORMED_CODE, "code")
    limits, now = request.registry.throttle_limits, get_clock(request.registry).now()
    device = devices.trusted_device(request, user.username)
    # Counted before checking, as a password is (:mod:`.attempts`): codes sent
    # at once cannot all pass the throttle; a right one gives the count back.
    taken = attempts.take(request, throttle.sign_in_charges(limits, user.username,
                                                            request.client_addr, device), now)
    if taken.retry_after is not None:
        audit.record(request, "login_throttled", user=user, store=False)
        raise Throttled(throttle.wait_message(taken.retry_after), taken.retry_after, "code")
    server_secret = request.registry.sessapp_settings.secret.value
    if is_totp:
        accepted = totp.check_code(request.dbsession, server_secret, user, code, now)
    else:
        accepted = recovery_codes.spend(request.dbsession, server_secret, user, code, now)
    if not accepted:
        audit.record(request, "mfa_failure", user=user)
        if "login_account" in taken.took_last:
            lockout.account_locked(request, user.username)
        raise AccountError(WRONG_CODE, "code")
    attempts.give_back(request, taken.hit_ids)
    target = complete_second_factor(request, user)
    if not is_totp:
        audit.record(request, "mfa_recovery_code_used", user=user,
                     session_public_id=request.session.public_id)
        # Flash messages are kept as text in the session: translated now.
        request.session.flash(translate(request, _codes_left_message(
            recovery_codes.remaining(request.dbsession, user.id))))
    return target


def _codes_left_message(left: int) -> str:
    if left == 0:
        return _("You used your last recovery code: make new ones on the two-step page now.")
    return ngettext("Recovery code used. ${n} left.", "Recovery code used. ${n} left.", left)
