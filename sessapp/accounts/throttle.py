"""Rate limits counted in the database: failed sign-ins per account, per client
IP and per trusted device, failed re-authentications per session, registrations
per IP, API-token creations per user, and the refusals of credential-less
requests stored per IP (see ``audit.record_refusal``).

A limit is ``max_hits`` per sliding ``window`` seconds. Past it, the answer is
429 with ``Retry-After`` = the seconds until the oldest counted hit leaves the
window. While an account is throttled even the right password is refused, and
the check does not depend on whether the account exists.

Sign-ins and re-authentications are counted before the password is checked
and judged after (:mod:`.attempts`), so attempts sent at once cannot all slip
through the same free place.

The trade-off against lock-outs: refused attempts are not counted, so an
attacker cannot extend a lock by hammering it; a lock always ends one window
after the last counted failure. And the lock holds only for clients the
account has never seen: a browser holding the account's device cookie
(:mod:`.devices`) is judged by its own budget alone, and a signed-in session
re-authenticating by its own, so whoever guesses cannot lock the owner out of
signing in or of changing the password. The per-IP limit is far higher than the
per-account one: it stops a spray over many usernames, not the typos of an
office behind one NAT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..i18n import ngettext
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
        return self.check(dbsession, key, now)[0]

    def check(self, dbsession: Session, key: str, now: datetime) -> tuple[int | None, int]:
        """:meth:`retry_after`, and how many attempts are left in the window."""
        if self.max_hits == 0:
            return self.window, 0
        since = now - timedelta(seconds=self.window)
        recent = dbsession.scalars(
            select(ThrottleHit.occurred_at)
            .where(ThrottleHit.scope == self.scope, ThrottleHit.key == key[:KEY_MAX],
                   ThrottleHit.occurred_at > since)
            .order_by(ThrottleHit.occurred_at.desc())
            .limit(self.max_hits)
        ).all()
        if len(recent) < self.max_hits:
            return None, self.max_hits - len(recent)
        frees_at = recent[-1] + timedelta(seconds=self.window)
        return max(1, math.ceil((frees_at - now).total_seconds())), 0

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
    budgets = {
        scope: auth.throttle_max_failures
        for scope in ("login_account", "login_device", "reauth_session", "register_ip",
                      "api_token_user")
    }
    budgets["login_ip"] = auth.throttle_ip_max_failures
    # Password-reset requests: per address as per account, per IP as sign-ins.
    budgets["reset_address"] = auth.throttle_max_failures
    budgets["reset_ip"] = auth.throttle_ip_max_failures
    budgets["refusal_ip"] = auth.refusals_stored_per_ip
    return {scope: Limit(scope, hits, window) for scope, hits in budgets.items()}


def clear(dbsession: Session, scope: str, key: str) -> int:
    """Forget every hit counted against ``key``: an operator lifting a lock."""
    return dbsession.execute(
        delete(ThrottleHit).where(ThrottleHit.scope == scope, ThrottleHit.key == key[:KEY_MAX])
        .execution_options(synchronize_session=False)
    ).rowcount


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


def sign_in_charges(
    limits: dict[str, Limit], username: str, ip: str | None, device: str | None
) -> list[tuple[Limit, str]]:
    """The budgets one sign-in attempt is counted against: a trusted device's
    own (the nonce of a valid device cookie for this account), which other
    clients' failures never hold; or else the account's and the IP's."""
    if device is not None:
        return [(limits["login_device"], device)]
    return [(limits["login_account"], username_key(username)),
            (limits["login_ip"], client_key(ip))]


def clear_account(dbsession: Session, username: str) -> int:
    """Lift the account's lock for strangers: its counted failures are deleted."""
    return clear(dbsession, "login_account", username_key(username))


def wait_message(retry_after: int) -> str:
    return ngettext("Too many attempts. Try again in ${n} minute.",
                    "Too many attempts. Try again in ${n} minutes.", math.ceil(retry_after / 60))
