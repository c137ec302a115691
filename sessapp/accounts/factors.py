"""Second factors as the account sees them: which a user has, turning TOTP on
and off, recovery codes, the roles that must have a factor, an admin's reset.

Every change here needs sudo mode (the views say ``sudo=True``; the use cases
check again with :func:`~.signin.confirm_identity`) and is audited under the
names the mail notices key on: ``mfa_totp_enabled``, ``mfa_totp_disabled``,
``mfa_recovery_codes_regenerated``, ``mfa_recovery_code_used``,
``admin_reset_mfa``.

Another kind of factor (passkeys) adds itself in three places: a column on the
user row that :func:`~.factor_policy.has_second_factor` reads (so the check
stays free on every request), its section in :func:`overview`, and its removal
in :func:`reset`.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..i18n import _, translate
from ..models import User
from . import audit, passkeys, recovery_codes, totp
from .errors import AccountError
from .factor_policy import has_second_factor, must_enrol
from .signin import confirm_identity

# The session key holding the enrolment's secret (encrypted) until the first code.
ENROL_KEY = "_totp_enrolment"
WRONG_CODE = _("That code is not right. Check your authenticator app's clock and try"
               " again.")
ALREADY_ON = _("Two-step verification with an authenticator app is already on.")
NOT_ON = _("Two-step verification with an authenticator app is not on.")


def overview(request: Any, user: User) -> dict[str, Any]:
    """What ``/mfa`` shows."""
    return {
        "totp_enabled": user.totp_enabled_at is not None,
        "totp_enabled_at": user.totp_enabled_at,
        "recovery_codes_left": recovery_codes.remaining(request.dbsession, user.id),
        "has_second_factor": has_second_factor(user),
        "must_enrol": must_enrol(request.registry.sessapp_settings, user),
        "passkeys": passkeys.list_for_user(request.dbsession, user.id),
        "now": get_clock(request.registry).now(),
    }


def _server_secret(request: Any) -> bytes:
    return request.registry.sessapp_settings.secret.value


def enrolment(request: Any, user: User) -> dict[str, str]:
    """The secret to show on the enrolment page (kept, encrypted, in the
    session until a code confirms it), its URI and QR code as inline SVG.
    Raises :class:`AccountError` when TOTP is already on."""
    if user.totp_enabled_at is not None:
        raise AccountError(ALREADY_ON)
    server_secret = _server_secret(request)
    secret = totp.decrypt(server_secret, user.id, request.session.get(ENROL_KEY))
    if secret is None:
        secret = totp.new_secret()
        request.session[ENROL_KEY] = totp.encrypt(server_secret, user.id, secret)
    uri = totp.provisioning_uri(secret, user.username)
    title = translate(request, _("QR code for your authenticator app"))
    return {"secret": secret, "uri": uri, "qr_svg": totp.qr_svg(uri, title)}


def enable_totp(request: Any, user: User, code: str, current_password: str = "") -> list[str]:
    """Turn TOTP on once ``code`` proves the app has the enrolment's secret;
    the new recovery codes, to show this once. Raises :class:`AccountError`
    (field ``code``) for a wrong code; nothing changes then."""
    confirm_identity(request, user, current_password)
    if user.totp_enabled_at is not None:
        raise AccountError(ALREADY_ON)
    server_secret = _server_secret(request)
    secret = totp.decrypt(server_secret, user.id, request.session.get(ENROL_KEY))
    if secret is None:
        raise AccountError(_("The set-up expired: scan the new code and try again."), "code")
    now = get_clock(request.registry).now()
    if totp.normalise_code(code) is None:
        raise AccountError(_("Enter the 6 digits your app shows."), "code")
    if not totp.check_code(request.dbsession, server_secret, user, code, now, secret=secret):
        raise AccountError(WRONG_CODE, "code")
    user.totp_secret = totp.encrypt(server_secret, user.id, secret)
    user.totp_enabled_at = now
    del request.session[ENROL_KEY]
    codes = recovery_codes.replace_codes(request.dbsession, server_secret, user, now)
    audit.record(request, "mfa_totp_enabled", user=user,
                 session_public_id=request.session.public_id)
    return codes


def disable_totp(request: Any, user: User, current_password: str = "") -> None:
    """Turn TOTP off, and with it the recovery codes (which stand in for it)."""
    confirm_identity(request, user, current_password)
    if user.totp_enabled_at is None:
        raise AccountError(NOT_ON)
    _forget_totp(request, user)
    audit.record(request, "mfa_totp_disabled", user=user,
                 session_public_id=request.session.public_id)


def regenerate_recovery_codes(request: Any, user: User, current_password: str = "") -> list[str]:
    """Ten new codes (the old ones stop working), shown this once."""
    confirm_identity(request, user, current_password)
    if not has_second_factor(user):
        raise AccountError(_("Recovery codes come with a second factor: turn one on first."))
    codes = recovery_codes.replace_codes(request.dbsession, _server_secret(request), user,
                                         get_clock(request.registry).now())
    audit.record(request, "mfa_recovery_codes_regenerated", user=user,
                 session_public_id=request.session.public_id)
    return codes


def reset(request: Any, admin: User, user: User) -> None:
    """An admin removes every second factor of ``user`` (lost phone): TOTP,
    recovery codes and passkeys. Audited under ``user``'s name; the user is told."""
    _forget_totp(request, user)
    passkeys.remove_all(request, user)
    audit.record(request, "admin_reset_mfa", user=user)


def _forget_totp(request: Any, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    recovery_codes.remove(request.dbsession, user.id)
