"""Passkeys: adding, listing and removing them, and the three things they
prove: who is signing in without a password, the second factor after one, and
a fresh proof of identity for sudo mode.

Each use case is one function a view calls. The WebAuthn checks themselves are
in :mod:`.webauthn_ceremony`; here are the account rules around them: whose
credential it is, whether the account may sign in, the signature counter, the
audit trail. A counter that does not move forward (when either side is
nonzero) means two authenticators hold the same key, a cloned one among them:
the answer is refused and the event audited, with the signature already
checked, so no one can write that event without the key.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..clock import get_clock
from ..i18n import _
from ..models import Passkey, User
from . import audit
from . import webauthn_ceremony as ceremony
from .errors import AccountError, NotFound
from .webauthn_ceremony import CeremonyFailed

MAX_NAME_LENGTH = 100
USER_HANDLE_BYTES = 32
UNKNOWN_PASSKEY = _("That passkey is not registered to an active account here.")
NOT_YOURS = _("That passkey is not one of yours.")
ALREADY_ADDED = _("That passkey is already registered.")
COUNTER_WENT_BACK = _("That passkey's signature counter went backwards: it may have "
                       "been copied. It was refused; remove it and add it again if it is "
                       "yours.")


def credential_key(raw_credential_id: bytes) -> str:
    return hashlib.sha256(raw_credential_id).hexdigest()


def list_for_user(dbsession: Session, user_id: int) -> list[Passkey]:
    return list(dbsession.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)))


def _pairs(passkeys: list[Passkey]) -> list[tuple[str, str]]:
    return [(passkey.credential_id, passkey.transports) for passkey in passkeys]


def _user_handle(passkeys: list[Passkey]) -> bytes:
    """The user's WebAuthn handle: the one their passkeys already carry, else a
    new random one (never the row id, which would tell a site's user count)."""
    if passkeys:
        return ceremony.base64url_to_bytes(passkeys[0].user_handle)
    return secrets.token_bytes(USER_HANDLE_BYTES)


def check_name(name: Any) -> str:
    if (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH
            or not name.isprintable()):
        raise AccountError(_("The name must be 1 to 100 printable characters."), "name")
    return name.strip()


# -- adding and removing ----------------------------------------------------------


def registration_options(request: Any, user: User) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptionsJSON`` for a new passkey of ``user``."""
    passkeys = list_for_user(request.dbsession, user.id)
    return ceremony.creation_options(
        request, user_id=user.id, user_handle=_user_handle(passkeys),
        user_name=user.username, existing=_pairs(passkeys))


def add(request: Any, user: User, name: Any, credential: Any) -> Passkey:
    """Verify a ``RegistrationResponseJSON`` against the challenge issued to
    ``user`` and store the passkey as ``name``; AccountError (name) or
    :class:`CeremonyFailed`, and nothing stored, otherwise."""
    name = check_name(name)
    pending = ceremony.take_challenge(request, "register", user.id)
    made = ceremony.verify_creation(request, credential, pending.challenge)
    raw_id = ceremony.base64url_to_bytes(made.credential_id)
    dbsession = request.dbsession
    key = credential_key(raw_id)
    if dbsession.scalars(select(Passkey.id).where(Passkey.credential_key == key)).first():
        raise CeremonyFailed(ALREADY_ADDED)
    # The handle the authenticator stored is the one the options carried.
    handle = pending.user_handle
    if handle is None:
        raise CeremonyFailed(ceremony.NO_CHALLENGE)
    passkey = Passkey(
        user_id=user.id, name=name, credential_key=key, credential_id=made.credential_id,
        public_key=made.public_key, sign_count=made.sign_count, user_handle=handle,
        transports=made.transports, created_at=get_clock(request.registry).now(),
    )
    dbsession.add(passkey)
    dbsession.flush()
    _recount(dbsession, user)
    audit.record(request, "passkey_added", user=user)
    return passkey


def remove(request: Any, user: User, passkey_id: int) -> None:
    """Remove one of ``user``'s own passkeys; :class:`NotFound` for anyone else's."""
    passkey = request.dbsession.scalars(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)).first()
    if passkey is None:
        raise NotFound(NOT_YOURS)
    request.dbsession.delete(passkey)
    request.dbsession.flush()
    _recount(request.dbsession, user)
    audit.record(request, "passkey_removed", user=user)


def remove_all(request: Any, user: User) -> int:
    """Remove every passkey of ``user`` (an admin's reset of the factors); how
    many there were. The caller audits the reset."""
    removed = request.dbsession.execute(
        delete(Passkey).where(Passkey.user_id == user.id)
        .execution_options(synchronize_session=False)).rowcount
    _recount(request.dbsession, user)
    return removed


def _recount(dbsession: Session, user: User) -> None:
    """Keep ``users.passkey_count`` true, counted afresh rather than stepped,
    so that it cannot drift from the rows."""
    user.passkey_count = dbsession.scalar(
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id)) or 0


# -- proving who you are with one ---------------------------------------------------


def _find(dbsession: Session, raw_credential_id: bytes) -> Passkey | None:
    return dbsession.scalars(
        select(Passkey).where(Passkey.credential_key == credential_key(raw_credential_id))
    ).first()


def _record_use(request: Any, user: User | None, passkey: Passkey, new_count: int) -> None:
    """Move the stored counter forward and stamp the last use, in one
    conditional UPDATE: of two answers with the same count racing in two
    processes, one matches no row and is refused like a counter gone back."""
    now = get_clock(request.registry).now()
    went_back = ((new_count or passkey.sign_count) and new_count <= passkey.sign_count)
    if not went_back:
        moved = request.dbsession.execute(
            update(Passkey)
            .where(Passkey.id == passkey.id,
                   Passkey.sign_count < new_count if new_count else Passkey.sign_count == 0)
            .values(sign_count=new_count, last_used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        went_back = moved != 1
    if went_back:
        audit.record(request, "passkey_counter_regressed", user=user)
        raise CeremonyFailed(COUNTER_WENT_BACK)
    passkey.sign_count, passkey.last_used_at = new_count, now


def _verify(request: Any, purpose: str, user: User | None, credential: Any, *,
            user_verification: bool) -> tuple[Passkey, User]:
    """The passkey (and its user) that answered the challenge of ``purpose``;
    :class:`CeremonyFailed` for anything else. With ``user`` given, the
    passkey must be one of theirs."""
    pending = ceremony.take_challenge(request, purpose, None if user is None else user.id)
    raw_id = ceremony.asserted_credential_id(credential)
    passkey = _find(request.dbsession, raw_id)
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise CeremonyFailed(UNKNOWN_PASSKEY)
    handle = ceremony.asserted_user_handle(credential)
    if handle is not None and ceremony.bytes_to_base64url(handle) != passkey.user_handle:
        raise CeremonyFailed(UNKNOWN_PASSKEY)
    if user is None and handle is None:
        # A discoverable credential always names its account; one that does
        # not was not made for signing in without a username.
        raise CeremonyFailed(UNKNOWN_PASSKEY)
    new_count = ceremony.verify_assertion(request, credential, pending.challenge,
                                          public_key=passkey.public_key,
                                          user_verification=user_verification)
    owner = user if user is not None else request.dbsession.get(User, passkey.user_id)
    _record_use(request, owner, passkey, new_count)
    return passkey, owner


def sign_in_options(request: Any) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptionsJSON`` for signing in without a
    username: no allowCredentials, so the authenticator offers its own
    discoverable credentials for this site; the user must be verified."""
    return ceremony.request_options(request, "sign_in", user_id=None, allowed=[],
                                    user_verification=True)


def verify_sign_in(request: Any, credential: Any) -> User:
    """The user a passwordless sign-in's ``AuthenticationResponseJSON`` proves
    (user verification required: the passkey is both factors); raises
    :class:`CeremonyFailed`, the same for an unknown passkey and a disabled
    account. The caller signs the user in
    (:func:`.passkey_signin.sign_in_with_passkey`)."""
    try:
        _passkey, user = _verify(request, "sign_in", None, credential, user_verification=True)
    except CeremonyFailed:
        audit.record_refusal(request, "passkey_failure")
        raise
    if user.disabled:
        audit.record(request, "login_failure", user=user)
        raise CeremonyFailed(UNKNOWN_PASSKEY)
    return user


def proof_options(request: Any, user: User, purpose: str) -> dict[str, Any]:
    """Request options naming ``user``'s passkeys, for a second factor after
    the password (``second_factor``) or a fresh proof for sudo mode (``sudo``)."""
    passkeys = list_for_user(request.dbsession, user.id)
    if not passkeys:
        raise NotFound(_("You have no passkey."))
    return ceremony.request_options(request, purpose, user_id=user.id,
                                    allowed=_pairs(passkeys), user_verification=False)


def verify_proof(request: Any, user: User, purpose: str, credential: Any) -> Passkey:
    """Check that one of ``user``'s passkeys answered the challenge of
    ``purpose``; raises :class:`CeremonyFailed` otherwise (the caller audits
    it as the failure of what it was for). A passkey here is a second factor
    or a fresh proof in a session already signed in: the user need not be
    verified by the device."""
    passkey, _owner = _verify(request, purpose, user, credential, user_verification=False)
    return passkey
