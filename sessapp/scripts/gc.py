"""sessapp-gc INI: delete expired sessions (and audit events past retention)
in short batches, each its own transaction, so no lock is held for long."""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from sqlalchemy import delete, select

from ..clock import SystemClock
from ..models import AuthEvent
from ..sessions import store
from .common import load_environment, run

DEFAULT_BATCH = 5000


def collect(env, *, batch_size: int = DEFAULT_BATCH, now=None) -> dict[str, int]:
    now = now or SystemClock().now()
    counts = {"sessions": 0, "auth_events": 0}
    while True:
        with env.transaction() as dbsession:
            deleted = store.delete_expired_batch(dbsession, now, batch_size)
        counts["sessions"] += deleted
        if deleted < batch_size:
            break
    cutoff = now - timedelta(days=env.settings.audit_retention_days)
    while True:
        with env.transaction() as dbsession:
            ids = dbsession.scalars(
                select(AuthEvent.id).where(AuthEvent.occurred_at < cutoff)
                .order_by(AuthEvent.occurred_at).limit(batch_size)
            ).all()
            if ids:
                dbsession.execute(
                    delete(AuthEvent).where(AuthEvent.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        counts["auth_events"] += len(ids)
        if len(ids) < batch_size:
            break
    return counts


def _body(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessapp-gc", description=__doc__)
    parser.add_argument("config_uri", help="the INI file, e.g. production.ini")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help=f"rows per transaction (default {DEFAULT_BATCH})")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    env = load_environment(args.config_uri)
    started = time.perf_counter()
    counts = collect(env, batch_size=args.batch_size)
    elapsed = time.perf_counter() - started
    print(
        f"sessapp-gc: deleted {counts['sessions']} expired sessions and "
        f"{counts['auth_events']} old auth events in {elapsed:.2f}s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    raise SystemExit(run(_body, argv))
