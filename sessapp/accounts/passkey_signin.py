"""What a passkey proves, turned into a session state: signing in with the
passkey alone, finishing a sign-in after the password (the second factor),
and renewing sudo mode.

Each checks the passkey with :mod:`.passkeys` and then hands over to the same
code the other factors use (:func:`.signin.start_session`,
:func:`.second_factor.complete_second_factor`, :func:`.signin.judge_proof`), so
the ways in can never drift apart. Kept apart from :mod:`.passkeys` so that
the factor rules may ask about passkeys without importing the sign-in rules.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..i18n import _
from ..models import User
from . import attempts, audit, devices, lockout, passkeys, pending, throttle
from .errors import Throttled
from .second_factor import EXPIRED, SecondFactorExpired, complete_second_factor
from .signin import judge_proof, start_session
from .webauthn_ceremony import CeremonyFailed

PASSKEY_REFUSED = _("That passkey could not confirm it is you.")


def sign_in_with_passkey(request: Any, credential: Any) -> User:
    """Sign in the user whose discoverable passkey answered the challenge of
    :func:`.passkeys.sign_in_options` (user verification included, so the
    passkey is both factors); raises :class:`CeremonyFailed`, and signs
    nobody in, otherwise."""
    user = passkeys.verify_sign_in(request, credential)
    start_session(request, user)
    return user


def _pending_user(request: Any) -> User:
    state = pending.current(request)
    if state is None:
        raise SecondFactorExpired(EXPIRED)
    return state.user


def second_factor_options(request: Any) -> dict[str, Any]:
    """Request options naming the half-signed-in user's passkeys; raises
    :class:`SecondFactorExpired` without a live half-signed-in state."""
    return passkeys.proof_options(request, _pending_user(request), "second_factor")


def complete_sign_in_with_passkey(request: Any, credential: Any) -> str | None:
    """The second step with a passkey: one of the half-signed-in user's
    passkeys answered, so the sign-in completes (a new session id); the
    ``next`` given at the password. A refused answer counts toward the same
    throttle as a wrong code, and a throttled attempt is not checked at all.
    Raises :class:`SecondFactorExpired`, :class:`Throttled` or
    :class:`CeremonyFailed`."""
    user = _pending_user(request)
    limits, now = request.registry.throttle_limits, get_clock(request.registry).now()
    device = devices.trusted_device(request, user.username)
    # Counted before checking, as a password or a code is (:mod:`.attempts`).
    taken = attempts.take(request, throttle.sign_in_charges(limits, user.username,
                                                            request.client_addr, device), now)
    if taken.retry_after is not None:
        audit.record(request, "login_throttled", user=user, store=False)
        raise Throttled(throttle.wait_message(taken.retry_after), taken.retry_after)
    try:
        passkeys.verify_proof(request, user, "second_factor", credential)
    except CeremonyFailed:
        audit.record(request, "mfa_failure", user=user)
        if "login_account" in taken.took_last:
            lockout.account_locked(request, user.username)
        raise
    attempts.give_back(request, taken.hit_ids)
    return complete_second_factor(request, user)


def sudo_options(request: Any, user: User) -> dict[str, Any]:
    """Request options naming ``user``'s passkeys, to renew sudo mode."""
    return passkeys.proof_options(request, user, "sudo")


def renew_sudo_with_passkey(request: Any, user: User, credential: Any) -> None:
    """``/sudo`` with a passkey: within the session's re-authentication budget
    (:func:`.signin.judge_proof`), like the password and a code. Raises
    :class:`Throttled`, or an ``AccountError`` about ``passkey``."""

    def check() -> bool:
        try:
            passkeys.verify_proof(request, user, "sudo", credential)
        except CeremonyFailed:
            return False
        return True

    judge_proof(request, user, check, failure_event="sudo_failure", field="passkey",
                message=PASSKEY_REFUSED, for_account=True)
    audit.record(request, "sudo_granted", user=user, session_public_id=request.session.public_id)
