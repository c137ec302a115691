"""Bench-only instrumentation, enabled by ``pyramid.includes = bench.counters`` in the
bench INI and never part of the app: counts requests, SQL statements, writes and
the transaction-control commands (BEGIN, COMMIT, ROLLBACK) each driver actually
sends, and serves them as JSON at ``/_bench/counters`` (``?reset=1`` zeroes them).

Transaction control is counted where the driver would put it on the wire:
psycopg sends BEGIN before the first statement of a non-autocommit connection and
COMMIT/ROLLBACK only inside a transaction; sqlite3 (legacy mode) begins only
before a write; PyMySQL never sends BEGIN but always sends COMMIT/ROLLBACK.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from pyramid.interfaces import IExecutionPolicy
from pyramid.response import Response
from pyramid.router import default_execution_policy
from pyramid.security import NO_PERMISSION_REQUIRED
from sqlalchemy import event

PATH = "/_bench/counters"
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
KEYS = ("requests", "statements", "writes", "tx_commands")
# Requests still being served: wrk stops the clock with some in flight, whose
# statements are not all sent yet. The bench waits for 0 before reading.
IN_FLIGHT = "in_flight"


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = dict.fromkeys(KEYS, 0)
        self.in_flight = 0

    def add(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.values[key] += amount

    def take(self, reset: bool) -> dict[str, int]:
        with self._lock:
            values = {**self.values, IN_FLIGHT: self.in_flight}
            if reset:
                self.values = dict.fromkeys(KEYS, 0)
        return values


def _in_transaction(dbapi_connection: Any) -> bool:
    """Whether COMMIT/ROLLBACK on this DBAPI connection goes to the server."""
    info = getattr(dbapi_connection, "info", None)
    if hasattr(info, "transaction_status"):  # psycopg 3
        return not dbapi_connection.autocommit and info.transaction_status != 0
    if hasattr(dbapi_connection, "in_transaction"):  # sqlite3
        return dbapi_connection.in_transaction
    return True  # PyMySQL and others: always sent


def _sends_begin(dbapi_connection: Any, statement: str) -> bool:
    info = getattr(dbapi_connection, "info", None)
    if hasattr(info, "transaction_status"):  # psycopg 3: idle and not autocommit
        return not dbapi_connection.autocommit and info.transaction_status == 0
    if hasattr(dbapi_connection, "in_transaction"):  # sqlite3 legacy: before DML
        return (dbapi_connection.isolation_level is not None
                and not dbapi_connection.in_transaction and bool(_WRITE.match(statement)))
    return False


def instrument(engine: Any, counters: Counters) -> None:
    def before_execute(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if _sends_begin(conn.connection.dbapi_connection, statement):
            counters.add("tx_commands")
        counters.add("statements")
        if _WRITE.match(statement):
            counters.add("writes")

    def end(conn: Any) -> None:
        if _in_transaction(conn.connection.dbapi_connection):
            counters.add("tx_commands")

    def reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        if not state.transaction_was_reset and _in_transaction(dbapi_connection):
            counters.add("tx_commands")

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    event.listen(engine.pool, "reset", reset)


def counting_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Built after the app is configured, so the engine exists by now."""
    instrument(registry["db_engine"], registry.bench_counters)
    return handler


def count_requests(registry: Any) -> None:
    """Requests are counted around the execution policy, outermost: static files
    are answered there (sessapp.static_files), before any tween."""
    counters = registry.bench_counters
    inner = registry.queryUtility(IExecutionPolicy, default=default_execution_policy)

    def policy(environ: dict[str, Any], router: Any) -> Any:
        if environ.get("PATH_INFO") == PATH:
            return inner(environ, router)
        with counters._lock:
            counters.values["requests"] += 1
            counters.in_flight += 1
        try:
            return inner(environ, router)
        finally:
            with counters._lock:
                counters.in_flight -= 1

    registry.registerUtility(policy, IExecutionPolicy)


def counters_view(request: Any) -> Response:
    reset = request.GET.get("reset") == "1"
    return Response(json_body=request.registry.bench_counters.take(reset))


def includeme(config: Any) -> None:
    config.registry.bench_counters = Counters()
    config.add_tween("bench.counters.counting_tween_factory")
    # After sessapp.static_files wraps the policy (order 10).
    config.action(("bench.counters", "policy"), lambda: count_requests(config.registry),
                  order=20)
    config.add_route("bench_counters", PATH)
    config.add_view(counters_view, route_name="bench_counters",
                    permission=NO_PERMISSION_REQUIRED)
