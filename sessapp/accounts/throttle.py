"""Rate limits counted in the database: failed logins per account and per client
IP, registrations per IP, API-token creations per user, and the refusals of
credential-less requests stored per IP (see ``audit.record_refusal``).

A limit is ``max_hits`` per sliding ``window`` seconds. Past it, the answer is
429 with ``Retry-After`` = the seconds until the oldest counted hit leaves the
window. While an account is throttled even the right password is refused, and
the check does not depend on whether the account exists.

The trade-off against lock-outs: refused attempts are not counted, so an
attacker cannot extend a lock by hammering it; a lock always ends one window
after the last counted failure. Keeping a victim's account locked therefore
takes a fresh burst of failures every window, and each burst also counts
against the attacker's IP, which is locked at the same threshold. The victim
meanwhile keeps every session already signed in (throttling never ends
sessions) and an operator can see the bursts in the audit log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import ThrottleHit
from .usernames import username_key

KEY_MAX = 600


@dataclass(frozen=True)
class Limit:
    scope: str
    max_hits: int
    window: int

    def retry_after(self, dbsession: Session, key: str, now: datetime) -> int | None:
        """Seconds until another attempt is allowed, or None if allowed now."""
        if self.max_hits == 0:
            return self.window
        since = now - timedelta(seconds=self.window)
        recent = dbsession.scalars(
            select(ThrottleHit.occurred_at)
            .where(ThrottleHit.scope == self.scope, ThrottleHit.key == key[:KEY_MAX],
                   ThrottleHit.occurred_at > since)
            .order_by(ThrottleHit.occurred_at.desc())
            .limit(self.max_hits)
        ).all()
        if len(recent) < self.max_hits:
            return None
        frees_at = recent[-1] + timedelta(seconds=self.window)
        return max(1, math.ceil((frees_at - now).total_seconds()))

    def hit(self, key: str, now: datetime) -> ThrottleHit:
        """A hit to store: in the request's transaction (:meth:`count`), or with a
        failure's audit row once that transaction has ended."""
        return ThrottleHit(scope=self.scope, key=key[:KEY_MAX], occurred_at=now)

    def count(self, dbsession: Session, key: str, now: datetime) -> None:
        """Count one attempt that succeeds with the request (a registration, a
        token created): it vanishes if the request rolls back, as the attempt does."""
        dbsession.add(self.hit(key, now))


def limits(settings: Any) -> dict[str, Limit]:
    auth = settings.auth
    window = auth.throttle_window
    found = {
        scope: Limit(scope, auth.throttle_max_failures, window)
        for scope in ("login_account", "login_ip", "register_ip", "api_token_user")
    }
    found["refusal_ip"] = Limit("refusal_ip", auth.refusals_stored_per_ip, window)
    return found


def prune(dbsession: Session, now: datetime, window: int, batch_size: int) -> int:
    """Delete up to ``batch_size`` hits that no window can count any more."""
    cutoff = now - timedelta(seconds=window)
    ids = dbsession.scalars(
        select(ThrottleHit.id).where(ThrottleHit.occurred_at <= cutoff)
        .order_by(ThrottleHit.occurred_at).limit(batch_size)
    ).all()
    if not ids:
        return 0
    return dbsession.execute(
        delete(ThrottleHit).where(ThrottleHit.id.in_(ids))
        .execution_options(synchronize_session=False)
    ).rowcount


def client_key(ip: str | None) -> str:
    return ip or "unknown"


def login_retry_after(
    dbsession: Session, limits: dict[str, Limit], username: str, ip: str | None, now: datetime
) -> int | None:
    """Seconds to wait before this account may be tried again from this IP."""
    waits = [
        limits["login_account"].retry_after(dbsession, username_key(username), now),
        limits["login_ip"].retry_after(dbsession, client_key(ip), now),
    ]
    return max((wait for wait in waits if wait), default=None)


def login_failure_hits(
    limits: dict[str, Limit], username: str, ip: str | None, now: datetime
) -> list[ThrottleHit]:
    return [
        limits["login_account"].hit(username_key(username), now),
        limits["login_ip"].hit(client_key(ip), now),
    ]


def wait_message(retry_after: int) -> str:
    minutes = math.ceil(retry_after / 60)
    return (f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
