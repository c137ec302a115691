"""The rules about users: creating them, checking passwords, ending their
sessions, disabling them.

The use cases (sign-in, registration, admin actions) and the console scripts
both call these, so the web and the shell enforce the same password policy and
end sessions the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..i18n import _
from ..models import User, session_store
from ..models.meta import parse_id
from . import api_tokens
from .errors import AccountError, FormErrors
from .password_policy import PasswordPolicy, WeakPassword
from .passwords import PasswordHasher
from .usernames import InvalidUsername, normalize_username, username_key, username_skeleton


def _check_password(policy: PasswordPolicy, password: str, username: str) -> None:
    try:
        policy.check(password, username=username)
    except WeakPassword as exc:
        raise AccountError(exc.message, "password") from None


def find_user(dbsession: Session, username: str) -> User | None:
    """The account with exactly this key. Never by skeleton: a look-alike name
    must not sign in as the account it resembles."""
    return dbsession.scalars(
        select(User).where(User.username_key == username_key(username))
    ).first()


def username_taken(dbsession: Session, username: str) -> bool:
    """Whether ``username`` is in use or looks like one in use (same key or same
    confusable skeleton)."""
    found = dbsession.scalars(
        select(User.id).where(or_(User.username_key == username_key(username),
                                  User.username_skeleton == username_skeleton(username)))
    ).first()
    return found is not None


def check_new_account(dbsession: Session, policy: PasswordPolicy, username: str,
                      password: str) -> str:
    """The display form of ``username`` when both it and ``password`` are
    acceptable; else :class:`FormErrors` naming every field that is not, so a
    form shows the username and the password problems together."""
    errors: dict[str, str] = {}
    try:
        display = normalize_username(username)
    except InvalidUsername as exc:
        display = username
        errors["username"] = exc.message
    else:
        if username_taken(dbsession, display):
            errors["username"] = _("That username is taken.")
    try:
        policy.check(password, username=display)
    except WeakPassword as exc:
        errors["password"] = exc.message
    if errors:
        raise FormErrors(errors)
    return display


def create_user(
    dbsession: Session,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    username: str,
    password: str,
    now: datetime,
    *,
    roles: list[str] | None = None,
) -> User:
    display = check_new_account(dbsession, policy, username, password)
    user = User(
        username=display,
        username_key=username_key(display),
        username_skeleton=username_skeleton(display),
        password_hash=hasher.hash(password),
        disabled=False,
        created_at=now,
        sessions_epoch=now,
    )
    user.roles = roles or []
    dbsession.add(user)
    dbsession.flush()
    return user


def authenticate(
    dbsession: Session, hasher: PasswordHasher, username: str, password: str
) -> User | None:
    """The user if the password is right and the account enabled, else None.

    Exactly one bcrypt check runs on every path (unknown user, wrong password,
    disabled account), so none of them can be told apart by timing.
    """
    user = find_user(dbsession, username)
    ok = hasher.verify(password, None if user is None else user.password_hash)
    if not ok or user is None or user.disabled:
        return None
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def set_password(
    user: User, hasher: PasswordHasher, policy: PasswordPolicy, password: str, now: datetime
) -> None:
    """New hash, and every session and token made before now stops counting."""
    _check_password(policy, password, user.username)
    user.password_hash = hasher.hash(password)
    user.sessions_epoch = now


def end_sessions(
    dbsession: Session, user: User, *, keep_public_id: str | None = None
) -> int:
    return session_store.delete_for_user(dbsession, user.id, keep_public_id=keep_public_id)


def end_sessions_and_tokens(
    dbsession: Session, user: User, now: datetime, *, keep_public_id: str | None = None
) -> tuple[int, int]:
    """End every session of ``user`` (but ``keep_public_id``) and revoke every
    API token: what someone who fears a stolen credential needs, since a token
    made with a stolen session outlives it. How many sessions and tokens ended."""
    ended = end_sessions(dbsession, user, keep_public_id=keep_public_id)
    return ended, api_tokens.revoke_all(dbsession, user.id, now)


def disable(dbsession: Session, user: User, now: datetime) -> None:
    """Disabled at once: sessions deleted, tokens revoked, epoch moved."""
    user.disabled = True
    user.sessions_epoch = now
    end_sessions_and_tokens(dbsession, user, now)


def enable(user: User) -> None:
    user.disabled = False


def list_users(dbsession: Session) -> list[User]:
    return list(dbsession.scalars(select(User).order_by(User.username_key)))


def get_user(dbsession: Session, user_id: Any) -> User | None:
    row_id = parse_id(user_id)
    return None if row_id is None else dbsession.get(User, row_id)
