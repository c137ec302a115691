"""The statement budget: the most SQL each request the bench drives may cost, and
the check that makes ``make bench`` (``python -m bench.run``) exit non-zero when
a count grows past it.

The counts are ``bench.counters``'s, per request, averaged over every request of
a run. The table below is the one place the budgets live; ``--budget`` lowers or
raises one for a run (the tests use it to see the check fail).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

KEYS = ("statements", "writes", "tx_commands")
NAMES = {"statements": "SQL statements", "writes": "writes",
         "tx_commands": "BEGIN/COMMIT/ROLLBACK"}


@dataclass(frozen=True)
class Budget:
    statements: int
    writes: int
    # BEGIN, COMMIT and ROLLBACK on the wire, budgeted on PostgreSQL only, where
    # each is a round trip sessapp chooses to pay. SQLite's driver begins only
    # before a write, and PyMySQL sends ROLLBACK at every return to the pool:
    # theirs describe the driver, not sessapp.
    tx_commands: int | None = None


BUDGETS: dict[str, Budget] = {
    # No session, no database: the page never asks for request.session.
    "home page, anonymous": Budget(statements=0, writes=0, tx_commands=0),
    # A static file never reads the session, cookie or not.
    "static file, with session cookie": Budget(statements=0, writes=0, tx_commands=0),
    # The session row joined with its user, one SELECT outside the request's
    # transaction (on PostgreSQL in autocommit: no BEGIN, no ROLLBACK); inside
    # the touch interval nothing is written.
    "GET /profile, signed in": Budget(statements=1, writes=0, tx_commands=0),
    # The token row joined with its user, one SELECT read as the session's is
    # (outside the request's transaction; on PostgreSQL no BEGIN, no ROLLBACK);
    # last_used_at is refreshed at most once a minute, one write in thousands of
    # requests (under TOLERANCE).
    "GET /api/me, bearer token": Budget(statements=1, writes=0, tx_commands=0),
    # SELECT ... FOR UPDATE of the session row, then its versioned UPDATE, in
    # one transaction: BEGIN and COMMIT.
    "POST /session-data (one write)": Budget(statements=2, writes=1, tx_commands=2),
}

# A mean may exceed its budget by this much: a rare retried request is not a
# regression, while one statement more on every request (+1) or on one request
# in ten (+0.1) is caught.
TOLERANCE = 0.01


def with_overrides(overrides: Iterable[str]) -> dict[str, Budget]:
    """The table with ``SCENARIO:KEY=N`` items applied, or ValueError naming the
    item that is not one."""
    budgets = dict(BUDGETS)
    for item in overrides:
        scenario, _, assignment = item.rpartition(":")
        key, _, value = assignment.partition("=")
        key = key.strip()
        if scenario not in budgets or key not in KEYS or not value.strip().isdigit():
            raise ValueError(
                f"--budget {item!r}: expected SCENARIO:KEY=N with SCENARIO one of "
                f"{', '.join(map(repr, budgets))} and KEY one of {', '.join(KEYS)}")
        budgets[scenario] = replace(budgets[scenario], **{key: int(value)})
    return budgets


def exceeded(counted: Iterable[Mapping[str, Any]], budgets: Mapping[str, Budget],
             labels: Mapping[str, str]) -> list[str]:
    """One line per count above its budget; ``counted`` items carry ``backend``,
    ``scenario`` and the three counts (None where not counted)."""
    found = []
    for item in counted:
        budget = budgets.get(item["scenario"])
        if budget is None:
            continue
        for key in KEYS:
            limit = getattr(budget, key)
            if key == "tx_commands" and item["backend"] != "postgresql":
                continue
            value = item.get(key)
            if limit is None or value is None or value <= limit + TOLERANCE:
                continue
            found.append(f"{labels.get(item['backend'], item['backend'])} "
                         f"{item['scenario']}: {value:.3f} {NAMES[key]} per request, "
                         f"budget {limit}")
    return found
