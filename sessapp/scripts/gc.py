"""sessapp-gc INI: delete expired sessions (and audit events, sent mail and
one-time links past keeping)
in short batches, each its own transaction, so no lock is held for long."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..accounts import mail_delivery, one_time_links, throttle
from ..clock import SystemClock
from ..models import AuthEvent
from ..models import session_store as store
from .common import Environment, load_environment, run

DEFAULT_BATCH = 5000
# How long one batch's transaction should take (and so hold its locks) at most;
# the goal is a tenth of a second under load, with room to spare.
BATCH_SECONDS = 0.05
FIRST_BATCH = 500


def _in_batches(env: Environment, delete_batch: Callable[[Session, int], int],
                batch_size: int) -> int:
    """Run ``delete_batch`` in one short transaction after another until a batch
    comes back short: no transaction holds its locks for long.

    Rows cost different time on different databases and machines (bench/: 5,000
    expired sessions took under 15 ms on PostgreSQL but 75-110 ms on MariaDB and
    SQLite on a quiet machine, and several times that under load), so batches
    start small and double while they take under half of ``BATCH_SECONDS``, up to
    ``batch_size``; one that took longer halves the next.
    """
    total = 0
    size = min(batch_size, FIRST_BATCH)
    while True:
        started = time.perf_counter()
        with env.transaction() as dbsession:
            deleted = delete_batch(dbsession, size)
        elapsed = time.perf_counter() - started
        total += deleted
        if deleted < size:
            return total
        if elapsed > BATCH_SECONDS:
            size = max(1, size // 2)
        elif elapsed < BATCH_SECONDS / 2:
            size = min(batch_size, size * 2)


def _delete_old_events(dbsession: Session, cutoff: datetime, batch_size: int) -> int:
    ids = dbsession.scalars(
        select(AuthEvent.id).where(AuthEvent.occurred_at < cutoff)
        .order_by(AuthEvent.occurred_at).limit(batch_size)
    ).all()
    if not ids:
        return 0
    return dbsession.execute(
        delete(AuthEvent).where(AuthEvent.id.in_(ids))
        .execution_options(synchronize_session=False)
    ).rowcount


def collect(env: Environment, *, batch_size: int = DEFAULT_BATCH,
            now: datetime | None = None) -> dict[str, int]:
    """Delete what is past keeping; returns the counts per kind."""
    now = now or SystemClock().now()
    settings = env.settings
    event_cutoff = now - timedelta(days=settings.audit_retention_days)
    return {
        "sessions": _in_batches(
            env, lambda db, size: store.delete_expired_batch(db, now, size), batch_size),
        "throttle_hits": _in_batches(
            env, lambda db, size: throttle.prune(db, now, settings.auth.throttle_window, size),
            batch_size),
        "auth_events": _in_batches(
            env, lambda db, size: _delete_old_events(db, event_cutoff, size), batch_size),
        # Kept as long as auth events: what was mailed to whom, and when.
        "mails": _in_batches(
            env, lambda db, size: mail_delivery.prune(db, event_cutoff, size), batch_size),
        "links": _in_batches(
            env, lambda db, size: one_time_links.prune(db, now, size), batch_size),
    }


def _body(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessapp-gc", description=__doc__)
    parser.add_argument("config_uri", help="the INI file, e.g. production.ini")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help=f"most rows per transaction (default {DEFAULT_BATCH}); "
                             "smaller where a batch would take over "
                             f"{BATCH_SECONDS * 1000:.0f} ms")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    env = load_environment(args.config_uri)
    started = time.perf_counter()
    counts = collect(env, batch_size=args.batch_size)
    elapsed = time.perf_counter() - started
    print(
        f"sessapp-gc: deleted {counts['sessions']} expired sessions and "
        f"{counts['auth_events']} old auth events and {counts['throttle_hits']} "
        f"old throttle counts and {counts['mails']} old mails and {counts['links']} "
        f"expired links in {elapsed:.2f}s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    raise SystemExit(run(_body, argv))
