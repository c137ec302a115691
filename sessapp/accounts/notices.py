"""Security notices by mail: telling people what happened to their account,
when, from which IP and browser.

Most notices follow an audit event (:data:`EVENT_NOTICES`): ``audit.record``
asks :func:`for_event` for the mail that goes with the event it records, so
any code that records one of these events (second factors included) tells the
owner without a line of its own. The notices that carry a link (a sign-in from
a new browser, an address change told to the old address) are composed by
their use cases with the functions below. Only a verified address is ever
written to.
"""

from __future__ import annotations

from typing import Any

from ..clock import get_clock
from ..i18n import _
from ..models import OutboxMessage, User
from .mail_messages import Mail, absolute_url, compose

IF_NOT_YOU = _("If this was not you, reset your password at once and end your other "
               "sessions on the Sessions page.")

# event -> (subject, what happened)
EVENT_NOTICES: dict[str, tuple[Any, Any]] = {
    "password_changed": (_("Your sessapp password was changed"),
                         _("The password of your account was changed. Every other session "
                           "was signed out.")),
    "password_reset": (_("Your sessapp password was reset"),
                       _("The password of your account was reset with a link sent to this "
                         "address. Every session and API token was ended.")),
    "api_token_created": (_("A new API token for your sessapp account"),
                          _("An API token was created for your account. It can act for you "
                            "until it expires or is revoked on the Sessions page.")),
    "account_locked": (_("Sign-in to your sessapp account was locked"),
                       _("Too many wrong passwords were tried for your account, so signing in "
                         "from browsers that have never signed in to it is locked for a "
                         "while. Your own browsers can still sign in.")),
    "mfa_totp_enabled": (_("A second factor was added to your sessapp account"),
                         _("An authenticator app (TOTP codes) was turned on as a second "
                           "factor for your account.")),
    "mfa_totp_disabled": (_("A second factor was removed from your sessapp account"),
                          _("The authenticator app (TOTP codes) was turned off for your "
                            "account.")),
    "mfa_recovery_codes_regenerated": (_("New recovery codes for your sessapp account"),
                                       _("New recovery codes were made for your account; "
                                         "the old ones no longer work.")),
    "mfa_recovery_code_used": (_("A recovery code was used on your sessapp account"),
                               _("A recovery code was used to sign in to your account. "
                                 "Each code works once.")),
    "passkey_added": (_("A passkey was added to your sessapp account"),
                      _("A passkey was added to your account. It can sign in without "
                        "a password.")),
    "passkey_removed": (_("A passkey was removed from your sessapp account"),
                        _("A passkey was removed from your account.")),
    "admin_reset_mfa": (_("Your sessapp second factors were removed"),
                        _("An administrator removed every second factor from your "
                          "account.")),
}


def _details(request: Any) -> dict[str, Any]:
    return {"occurred_at": get_clock(request.registry).now(), "ip": request.client_addr,
            "user_agent": request.user_agent}


def for_event(request: Any, event: str, user: User | None) -> list[OutboxMessage]:
    """The notice that goes with ``event`` for ``user``, if any (none for a
    user without a verified address)."""
    notice = EVENT_NOTICES.get(event)
    if notice is None or user is None or user.verified_email is None:
        return []
    subject, what = notice
    mail = Mail(subject=subject, paragraphs=[what], closing=IF_NOT_YOU, **_details(request))
    return [compose(request, user.verified_email, user.username, mail)]


def new_browser_sign_in(request: Any, user: User, end_session_path: str) -> OutboxMessage:
    """A sign-in from a browser that has not signed in to the account before,
    with the link that ends that session without signing in."""
    mail = Mail(
        subject=_("New sign-in to your sessapp account"),
        paragraphs=[_("Your account was signed in to from a browser that has not signed in "
                      "to it before.")],
        action=(_("Not you? End that session"), absolute_url(request, end_session_path)),
        closing=_("If it was you, there is nothing to do."),
        **_details(request),
    )
    return compose(request, user.verified_email, user.username, mail)


def address_change_requested(request: Any, user: User, old_address: str, new_address: str,
                             undo_path: str) -> OutboxMessage:
    """To the old address: a change to ``new_address`` was asked for, with the
    link that cancels it (or reverts it, if it was confirmed)."""
    mail = Mail(
        subject=_("The e-mail address of your sessapp account is being changed"),
        paragraphs=[_("Someone signed in to your account asked to change its e-mail address "
                      "to ${address}. The change happens when that address confirms it.",
                      mapping={"address": new_address})],
        action=(_("Not you? Keep this address and sign everyone out"),
                absolute_url(request, undo_path)),
        closing=IF_NOT_YOU,
        **_details(request),
    )
    return compose(request, old_address, user.username, mail)


def verification(request: Any, user: User, address: str, verify_path: str) -> OutboxMessage:
    """The link that proves ``address`` is the user's."""
    mail = Mail(
        subject=_("Confirm your e-mail address for sessapp"),
        paragraphs=[_("Please confirm that ${address} is the address of your sessapp account.",
                      mapping={"address": address})],
        action=(_("Confirm this address"), absolute_url(request, verify_path)),
        closing=_("If you did not ask for this, ignore this message: nothing changes."),
    )
    return compose(request, address, user.username, mail)


def reset_link(request: Any, user: User, address: str, reset_path: str) -> OutboxMessage:
    mail = Mail(
        subject=_("Reset your sessapp password"),
        paragraphs=[_("Someone asked to reset the password of your sessapp account. The link "
                      "works once, for a limited time.")],
        action=(_("Choose a new password"), absolute_url(request, reset_path)),
        closing=_("If you did not ask for this, ignore this message: your password stays "
                  "as it is."),
        **_details(request),
    )
    return compose(request, address, user.username, mail)
