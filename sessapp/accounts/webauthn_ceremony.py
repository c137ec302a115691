"""The WebAuthn rules sessapp relies on, around py_webauthn: who the relying
party is, where a ceremony's challenge lives, and what makes a response fail.

A challenge is made by the server, kept in the visitor's own session row (so
every process sees it, and it dies with the session), one per purpose, for
:data:`CHALLENGE_LIFETIME`. It is taken out on first use, whether the answer
then verifies or not: a response can be checked against it once. Every way a
response can be wrong (bad JSON, bad base64, a signature, origin, RP id or
challenge that does not match) is one :class:`CeremonyFailed`, never a crash.

This module never signs anyone in and writes no audit event: the use cases in
:mod:`.passkeys` do, knowing what the ceremony was for.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..clock import get_clock
from ..i18n import _
from .errors import AccountError

# Long enough to find the authenticator and type a PIN, short enough that a
# challenge read off a screen or a log is soon worthless.
CHALLENGE_LIFETIME = timedelta(minutes=5)
# What the browser is told to wait (milliseconds): the challenge's lifetime.
TIMEOUT_MS = int(CHALLENGE_LIFETIME.total_seconds() * 1000)
SESSION_KEY = "_passkey_challenges"
CHALLENGE_BYTES = 32
PURPOSES = ("register", "sign_in", "second_factor", "sudo")
# What py_webauthn and its parsers raise on a response they cannot read:
# base64 and CBOR errors are ValueErrors, short byte strings struct.errors.
UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, IndexError,
              AttributeError, struct.error, OverflowError)


class CeremonyFailed(AccountError):
    """The response does not prove what it claims: answered with 400."""


NO_CHALLENGE = _("That passkey request has expired or was already used: please try "
                 "again.")
NOT_VERIFIED = _("The passkey's answer could not be verified.")


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str


def relying_party(request: Any) -> RelyingParty:
    settings = request.registry.sessapp_settings
    return RelyingParty(id=settings.webauthn_rp_id, name=settings.auth.webauthn_rp_name,
                        origin=settings.origin)


def _now(request: Any) -> datetime:
    return get_clock(request.registry).now()


@dataclass(frozen=True)
class Pending:
    """A challenge taken back, and the user handle a registration offered."""

    challenge: bytes
    user_handle: str | None = None


def _remember(request: Any, purpose: str, challenge: bytes, user_id: int | None,
              user_handle: bytes | None = None) -> None:
    expires = _now(request) + CHALLENGE_LIFETIME
    pending = {key: value for key, value in (request.session.get(SESSION_KEY) or {}).items()
               if key in PURPOSES}
    pending[purpose] = {"challenge": bytes_to_base64url(challenge),
                        "expires": expires.isoformat(), "user": user_id,
                        "handle": None if user_handle is None else bytes_to_base64url(user_handle)}
    request.session[SESSION_KEY] = pending


def take_challenge(request: Any, purpose: str, user_id: int | None) -> Pending:
    """The challenge issued for ``purpose`` (to ``user_id``), removed for good;
    :class:`CeremonyFailed` when there is none, it expired, or it was issued
    to someone else."""
    pending = dict(request.session.get(SESSION_KEY) or {})
    entry = pending.pop(purpose, None)
    if entry is not None:
        if pending:
            request.session[SESSION_KEY] = pending
        else:
            del request.session[SESSION_KEY]
    if not isinstance(entry, dict) or entry.get("user") != user_id:
        raise CeremonyFailed(NO_CHALLENGE)
    try:
        expires = datetime.fromisoformat(entry["expires"])
        challenge = base64url_to_bytes(entry["challenge"])
    except UNREADABLE:
        raise CeremonyFailed(NO_CHALLENGE) from None
    if _now(request) >= expires:
        raise CeremonyFailed(NO_CHALLENGE)
    handle = entry.get("handle")
    return Pending(challenge, handle if isinstance(handle, str) else None)


def _as_json(options: Any) -> dict[str, Any]:
    """WebAuthn Level 3's ``...OptionsJSON`` object (base64url strings)."""
    return json.loads(options_to_json(options))


def descriptors(credentials: list[tuple[str, str]]) -> list[PublicKeyCredentialDescriptor]:
    """``(credential id base64url, transports)`` pairs as descriptors."""
    made = []
    for credential_id, transports in credentials:
        known = []
        for name in transports.split():
            try:
                known.append(AuthenticatorTransport(name))
            except ValueError:
                continue
        made.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id),
                                                  transports=known or None))
    return made


def creation_options(request: Any, *, user_id: int, user_handle: bytes, user_name: str,
                     existing: list[tuple[str, str]]) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()``; the challenge is kept.

    A discoverable credential is preferred (it is what signing in without a
    username needs) but not required, so a security key without storage can
    still be a second factor; user verification likewise. The user's existing
    credentials are excluded: one authenticator, one passkey per account.
    """
    rp = relying_party(request)
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=user_handle, user_name=user_name,
        user_display_name=user_name, challenge=challenge, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=descriptors(existing),
    )
    _remember(request, "register", challenge, user_id, user_handle)
    return _as_json(options)


def request_options(request: Any, purpose: str, *, user_id: int | None,
                    allowed: list[tuple[str, str]], user_verification: bool) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()``; the challenge is kept.
    ``allowed`` empty: any discoverable credential of this site may answer."""
    rp = relying_party(request)
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=TIMEOUT_MS,
        allow_credentials=descriptors(allowed),
        user_verification=(UserVerificationRequirement.REQUIRED if user_verification
                           else UserVerificationRequirement.PREFERRED),
    )
    _remember(request, purpose, challenge, user_id)
    return _as_json(options)


@dataclass(frozen=True)
class NewCredential:
    credential_id: str  # base64url
    public_key: bytes
    sign_count: int
    transports: str


def verify_creation(request: Any, credential: Any, challenge: bytes) -> NewCredential:
    """Check a ``RegistrationResponseJSON`` against ``challenge``, this site's
    origin and RP id. Any attestation format py_webauthn verifies is taken,
    "none" included: sessapp trusts the person, not the authenticator's make."""
    if not isinstance(credential, dict):
        raise CeremonyFailed(NOT_VERIFIED)
    rp = relying_party(request)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_presence=True,
        )
    except UNREADABLE:
        raise CeremonyFailed(NOT_VERIFIED) from None
    response = credential.get("response")
    raw_transports = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(raw_transports, list):
        raw_transports = []
    known = {member.value for member in AuthenticatorTransport}
    transports = list(dict.fromkeys(name for name in raw_transports
                                    if isinstance(name, str) and name in known))
    return NewCredential(credential_id=bytes_to_base64url(verified.credential_id),
                         public_key=verified.credential_public_key,
                         sign_count=verified.sign_count, transports=" ".join(transports))


def asserted_credential_id(credential: Any) -> bytes:
    """The raw id of the credential an ``AuthenticationResponseJSON`` names
    (``rawId``, which verification then checks against ``id``)."""
    if not isinstance(credential, dict) or not isinstance(credential.get("rawId"), str):
        raise CeremonyFailed(NOT_VERIFIED)
    try:
        raw = base64url_to_bytes(credential["rawId"])
    except UNREADABLE:
        raise CeremonyFailed(NOT_VERIFIED) from None
    if not raw:
        raise CeremonyFailed(NOT_VERIFIED)
    return raw


def asserted_user_handle(credential: dict[str, Any]) -> bytes | None:
    """The user handle a discoverable credential returned, None when absent."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if not isinstance(handle, str) or not handle:
        return None
    try:
        return base64url_to_bytes(handle)
    except UNREADABLE:
        raise CeremonyFailed(NOT_VERIFIED) from None


def verify_assertion(request: Any, credential: dict[str, Any], challenge: bytes, *,
                     public_key: bytes, user_verification: bool) -> int:
    """Check an ``AuthenticationResponseJSON`` (signature, challenge, origin,
    RP id, user presence and, when asked, verification); the sign count it
    carries. The count is judged by the caller, against the stored one, so a
    counter that went backwards can be told apart from a bad signature."""
    rp = relying_party(request)
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=public_key,
            # 0: py_webauthn's own counter check off, ours (with its audit) on.
            credential_current_sign_count=0,
            require_user_verification=user_verification,
        )
    except UNREADABLE:
        raise CeremonyFailed(NOT_VERIFIED) from None
    return verified.new_sign_count
