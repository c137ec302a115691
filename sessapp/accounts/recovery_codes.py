"""Recovery codes: ten one-time codes that stand in for a lost second factor.

Each code is 24 characters of base32 (120 bits), shown as four groups of six,
so a stored hash cannot be reversed by guessing (ASVS 6.5.2 asks for salted
password hashing only below 112 bits). What is stored is an HMAC-SHA256 of the
normalised code and the user's id, under a key derived from ``sessapp.secret``:
the database alone does not even let one check a guess. A code is spent with a
conditional UPDATE (``... AND used_at IS NULL``): two requests racing with the
same code cannot both succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from .. import keys
from ..models import RecoveryCode, User

COUNT = 10
GROUPS = 4
GROUP_LENGTH = 6
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_NORMAL = re.compile(rf"[a-z2-7]{{{GROUPS * GROUP_LENGTH}}}")


def normalise(code: str) -> str | None:
    """The code without spaces or dashes, lower case; None when it cannot be one."""
    text = "".join(code.split()).replace("-", "").lower()
    return text if _NORMAL.fullmatch(text) else None


def _hash(server_secret: bytes, user_id: int, normal: str) -> str:
    key = keys.derive_key(server_secret, keys.RECOVERY_CODE)
    return hmac.new(key, f"{user_id}:{normal}".encode("ascii"), hashlib.sha256).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def replace_codes(dbsession: Session, server_secret: bytes, user: User,
                  now: datetime) -> list[str]:
    """Forget ``user``'s codes and make :data:`COUNT` new ones: the clear codes,
    to show this once."""
    remove(dbsession, user.id)
    codes = [_new_code() for _ in range(COUNT)]
    dbsession.add_all([
        RecoveryCode(user_id=user.id, code_hash=_hash(server_secret, user.id, normalise(code)),
                     created_at=now)
        for code in codes
    ])
    return codes


def remove(dbsession: Session, user_id: int) -> None:
    dbsession.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user_id)
        .execution_options(synchronize_session=False))


def spend(dbsession: Session, server_secret: bytes, user: User, code: str,
          now: datetime) -> bool:
    """Use up one of ``user``'s unused codes: True when ``code`` was one."""
    normal = normalise(code)
    if normal is None:
        return False
    result = dbsession.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == _hash(server_secret, user.id, normal),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def remaining(dbsession: Session, user_id: int) -> int:
    """How many of ``user_id``'s codes are still unused."""
    return dbsession.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ) or 0
