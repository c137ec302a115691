"""``make bench``: sessapp under waitress, measured against a bare Pyramid view.

For each reachable database (SQLite in a temp dir always; PostgreSQL and MariaDB
when their servers answer, each in its own throwaway database) this starts the
app with ``pserve`` on a free loopback port, signs in, and drives each kind of
request with wrk (or a bounded Python client when wrk is missing). The app runs
with ``bench.counters`` included, so each row also shows the SQL statements,
writes and BEGIN/COMMIT/ROLLBACK commands per request, and the run fails (exit
status 1, naming the request and its counts) when one exceeds its budget in
``bench.budgets``; ``--parts counts`` checks only those, in seconds, with a few
requests one at a time. Then, on PostgreSQL: the
signed-in request against 1 thousand, 100 thousand and 1 million stored sessions,
and ``sessapp-gc``'s collector deleting the expired ones while the app serves.

Run from the repository root: ``.venv/bin/python -m bench.run --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import budgets, scaling
from bench.client import Browser
from bench.databases import add_expired_sessions, count_sessions
from bench.load import Load, LoadResult, Spec, have_wrk, run_load
from sessapp.testing import databases
from tests.servers import BIN, ROOT, Server, run_app_server

USERNAME = "mallory"
PASSWORD = "correct horse battery staple, measured"  # noqa: S105 - a throwaway account
BACKENDS = ("sqlite", "postgresql", "mysql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB"}
# The bench INI: testing.ini (waitress, 4 threads) plus the counters, and the
# production bcrypt cost so that sign-in is timed at its real price. A touch
# interval of 10 minutes (the INI files: 1) keeps every measurement inside it: a
# signed-in session is touched (one UPDATE) once per interval, and a touch
# falling inside a run would blur its "0 writes".
BENCH_APP = {"pyramid.includes": "bench.counters", "auth.bcrypt_rounds": "12",
             "session.touch_interval": "600"}
# The servers import bench.counters from here; a PYTHONPATH given to the bench
# comes first (how docs/performance.md measured the code before its changes).
SERVER_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                          str(ROOT)]))}
WRITE_SESSIONS = 4


@dataclass
class Row:
    backend: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    statements: float | None = None
    writes: float | None = None
    tx_commands: float | None = None
    cpu_ms: float | None = None
    errors: int = 0
    ratio: float | None = None
    # The same request from one connection at a time: no contention between
    # waitress's threads for the GIL, so the ratio prices CPU work alone.
    serial_rps: float | None = None
    serial_cpu_ms: float | None = None
    serial_ratio: float | None = None
    # Its server CPU per request from one connection over the bare view's.
    serial_cpu_ratio: float | None = None


@dataclass
class Report:
    started: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    tool: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    logins: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[dict[str, Any]] = field(default_factory=list)
    gc: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------


@contextmanager
def app_server(url: str, folder: Path, **app: str) -> Iterator[Server]:
    server = run_app_server(folder, url, app={**BENCH_APP, **app}, env=SERVER_ENV)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def bare_server(folder: Path) -> Iterator[Server]:
    """The bare Pyramid view under the same waitress settings (testing.ini's)."""
    server = run_app_server(folder, "sqlite://", app={"use": "call:bench.bare:main"},
                            env=SERVER_ENV)
    try:
        yield server
    finally:
        server.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counters(port: int, reset: bool = False, settle: float = 5.0) -> dict[str, int]:
    """The app's counters, once no request is in flight (wrk stops its clock with
    requests still being served, whose statements would otherwise be missing)."""
    deadline = time.monotonic() + settle
    while True:
        status, _, body = Browser(port).get("/_bench/counters")
        if status != 200:
            raise RuntimeError(f"no counters from the bench app (status {status})")
        values = json.loads(body)
        if values.get("in_flight", 0) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if reset:
        Browser(port).get("/_bench/counters?reset=1")
    return values


def add_user(server: Server) -> None:
    ini = next(server.log_path.parent.glob(f"server-{server.port}.ini"))
    done = subprocess.run([str(BIN / "sessapp-user"), str(ini), "add", USERNAME],
                          input=PASSWORD + "\n", text=True, capture_output=True, timeout=60,
                          env={**os.environ, **SERVER_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"sessapp-user failed: {done.stderr.strip()}")


def sign_in(server: Server) -> tuple[Browser, float]:
    browser = Browser(server.port)
    return browser, browser.login(USERNAME, PASSWORD)


# -- measuring -----------------------------------------------------------------


def measure(server: Server, spec: Spec, args: argparse.Namespace, *, backend: str,
            scenario: str, expect: int = 200, counted: bool = True) -> Row:
    check = Browser(server.port)
    headers = {**spec.headers, **(spec.rotate[0] if spec.rotate else {})}
    body = spec.body.replace("@N@", "0") if spec.body else None
    status, _, _ = check.request(spec.method, spec.path, headers=headers,
                                 **({"json_body": json.loads(body)} if body else {}))
    if status != expect:
        raise RuntimeError(f"{scenario}: expected {expect}, got {status}")
    if counted:
        counters(server.port, reset=True)
    cpu_before = cpu_seconds(server.process.pid)
    result = run_load(server.port, spec, seconds=args.duration,
                      connections=args.connections, threads=args.threads)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    row = Row(backend=backend, scenario=scenario, rps=result.rps, p50_ms=result.p50_ms,
              p99_ms=result.p99_ms, errors=result.errors,
              cpu_ms=cpu * 1000 / max(1, result.requests))
    if counted:
        seen = counters(server.port)
        served = max(1, seen["requests"])
        row.statements = seen["statements"] / served
        row.writes = seen["writes"] / served
        row.tx_commands = seen["tx_commands"] / served
    if args.serial_duration > 0:
        cpu_before = cpu_seconds(server.process.pid)
        serial = run_load(server.port, spec, seconds=args.serial_duration,
                          connections=1, threads=1)
        cpu = cpu_seconds(server.process.pid) - cpu_before
        row.serial_rps = serial.rps
        row.serial_cpu_ms = cpu * 1000 / max(1, serial.requests)
        row.errors += serial.errors
    log(f"{LABELS.get(backend, backend)} {scenario}: {row.rps:.0f} req/s, "
        f"p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms, "
        f"CPU {row.cpu_ms:.2f} ms/req, SQL/req {row.statements}, errors {row.errors}; "
        f"one connection: {_num(row.serial_rps, 0)} req/s, CPU {_num(row.serial_cpu_ms)} ms/req")
    return row


def csrf_of(browser: Browser) -> str:
    return browser.csrf("/profile")


def api_token(browser: Browser) -> str:
    status, _, body = browser.request(
        "POST", "/api/tokens",
        json_body={"name": "bench", "expires_in_days": 1, "current_password": PASSWORD},
        headers={"X-CSRF-Token": csrf_of(browser)})
    if status != 201:
        raise RuntimeError(f"could not create an API token (status {status}): {body}")
    return json.loads(body)["token"]


def bcrypt_seconds(samples: int) -> float:
    """One bcrypt check at the bench INI's cost, as sessapp does it (pre-hash included)."""
    from sessapp.accounts.passwords import PasswordHasher

    hasher = PasswordHasher(int(BENCH_APP["auth.bcrypt_rounds"]))
    stored = hasher.hash(PASSWORD)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.verify(PASSWORD, stored)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def request_cases(cookie: str, token: str, writers: list[dict[str, str]]
                  ) -> list[tuple[str, Spec]]:
    """Each kind of request the bench drives, by the name its row carries."""
    return [
        ("home page, anonymous", Spec("/")),
        ("static file, with session cookie",
         Spec("/static/sessapp.css", headers={"Cookie": cookie})),
        ("GET /profile, signed in", Spec("/profile", headers={"Cookie": cookie})),
        ("POST /session-data (one write)",
         Spec("/session-data", method="POST",
              headers={"Content-Type": "application/json"},
              body='{"key": "n", "value": "@N@"}', rotate=writers)),
        ("GET /api/me, bearer token",
         Spec("/api/me", headers={"Authorization": f"Bearer {token}"})),
    ]


def count_rows(backend: str, folder: Path, args: argparse.Namespace, report: Report) -> None:
    """Only the counts: each request ``--count-requests`` times, one at a time, on
    a server whose bcrypt cost is the tests' (sign-in is not timed here)."""
    with databases.scratch_database(backend, "counts") as url, \
            app_server(url, folder, **{"auth.bcrypt_rounds": "4"}) as server:
        add_user(server)
        browser, _ = sign_in(server)
        writer = {"Cookie": browser.session_cookie, "X-CSRF-Token": csrf_of(browser)}
        token = api_token(browser)
        browser.get("/profile")  # a touch, if one is due, happens here
        for scenario, spec in request_cases(browser.session_cookie, token, [writer]):
            headers = {**spec.headers, **(spec.rotate[0] if spec.rotate else {})}
            # The first request is not counted, as in the timed runs: a bearer
            # token's first use records it (a write at most once a minute).
            for number in range(args.count_requests + 1):
                body = spec.body.replace("@N@", str(number)) if spec.body else None
                status, _, _ = Browser(server.port).request(
                    spec.method, spec.path, headers=headers,
                    **({"json_body": json.loads(body)} if body else {}))
                if status != 200:
                    raise RuntimeError(f"{LABELS[backend]} {scenario}: status {status}")
                if number == 0:
                    counters(server.port, reset=True)
            seen = counters(server.port)
            served = max(1, seen["requests"])
            item = {"backend": backend, "scenario": scenario, "requests": seen["requests"],
                    **{key: seen[key] / served for key in budgets.KEYS}}
            report.counts.append(item)
            log(f"{LABELS[backend]} {scenario}: SQL/req {item['statements']:.3f}, writes/req "
                f"{item['writes']:.3f}, BEGIN+COMMIT/ROLLBACK per req {item['tx_commands']:.3f}")


def request_rows(backend: str, bare: Server, folder: Path, args: argparse.Namespace,
                 report: Report) -> None:
    label = LABELS[backend]
    with databases.scratch_database(backend) as url, app_server(url, folder) as server:
        add_user(server)
        browsers, login_times = [], []
        for _ in range(max(WRITE_SESSIONS, args.logins)):
            browser, seconds = sign_in(server)
            browsers.append(browser)
            login_times.append(seconds)
        baseline = bcrypt_seconds(args.logins)
        login_p50 = statistics.median(login_times)
        report.logins.append({"backend": backend, "login_p50_ms": login_p50 * 1000,
                              "bcrypt_ms": baseline * 1000, "ratio": login_p50 / baseline,
                              "samples": len(login_times)})
        log(f"{label} sign-in p50 {login_p50 * 1000:.0f} ms; one bcrypt check "
            f"{baseline * 1000:.0f} ms; ratio {login_p50 / baseline:.2f}")
        main = browsers[0]
        cookie = main.session_cookie
        token = api_token(main)
        writers = [{"Cookie": b.session_cookie, "X-CSRF-Token": csrf_of(b)}
                   for b in browsers[:WRITE_SESSIONS]]
        main.get("/profile")  # a touch, if one is due, happens here and not in the run
        bare_row = measure(bare, Spec("/"), args, backend=backend,
                           scenario="bare Pyramid view", counted=False)
        report.rows.append(bare_row)
        for scenario, spec in request_cases(cookie, token, writers):
            row = measure(server, spec, args, backend=backend, scenario=scenario)
            row.ratio = row.rps / bare_row.rps if bare_row.rps else None
            if row.serial_rps and bare_row.serial_rps:
                row.serial_ratio = row.serial_rps / bare_row.serial_rps
            if row.serial_cpu_ms and bare_row.serial_cpu_ms:
                row.serial_cpu_ratio = row.serial_cpu_ms / bare_row.serial_cpu_ms
            report.rows.append(row)


# -- size sweep and garbage collection -------------------------------------------


@dataclass
class Prepared:
    size: int
    url: str
    server: Server
    cookie: str


def prepare_sized(stack: ExitStack, backend: str, size: int, folder: Path) -> Prepared:
    url = stack.enter_context(databases.scratch_database(backend, f"size{size}"))
    server = stack.enter_context(app_server(url, folder))
    add_user(server)
    browser, _ = sign_in(server)
    started = time.perf_counter()
    add_expired_sessions(url, size)
    log(f"{LABELS[backend]}: stored {size} sessions in {time.perf_counter() - started:.1f}s")
    browser.get("/profile")
    return Prepared(size=size, url=url, server=server, cookie=browser.session_cookie)


def size_sweep(folder: Path, args: argparse.Namespace, report: Report) -> None:
    """Interleaved rounds over one server per size, so that the machine's drifting
    load falls on every size alike; the median of the rounds is reported, and each
    size against the smallest within the same round."""
    with ExitStack() as stack:
        prepared = [prepare_sized(stack, "postgresql", size, folder) for size in args.sizes]
        runs: dict[int, list[LoadResult]] = {p.size: [] for p in prepared}
        for item in prepared:  # a warm-up, not recorded
            run_load(item.server.port, Spec("/profile", headers={"Cookie": item.cookie}),
                     seconds=2, connections=args.connections, threads=args.threads)
        for round_number in range(args.rounds):
            # Each round starts at another size, so a trend within rounds favours none.
            shift = round_number % len(prepared)
            for item in prepared[shift:] + prepared[:shift]:
                result = run_load(item.server.port, Spec("/profile",
                                  headers={"Cookie": item.cookie}), seconds=args.sweep_duration,
                                  connections=args.connections, threads=args.threads)
                runs[item.size].append(result)
                log(f"round {round_number + 1}: {item.size} sessions: {result.rps:.0f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms")
        for item in prepared:
            results = runs[item.size]
            report.sizes.append({
                "backend": "postgresql", "stored_sessions": item.size,
                "rps": statistics.median(r.rps for r in results),
                "p50_ms": statistics.median(r.p50_ms for r in results),
                "p99_ms": statistics.median(r.p99_ms for r in results),
                "errors": sum(r.errors for r in results), "rounds": len(results),
                "round_p50_ms": [r.p50_ms for r in results],
                "round_p99_ms": [r.p99_ms for r in results],
            })
        if args.gc_rows and "gc" in args.parts:
            largest = max(prepared, key=lambda p: p.size)
            if largest.size == args.gc_rows:
                report.gc.append(collect_while_serving("postgresql", largest, args))


def collect_while_serving(backend: str, item: Prepared, args: argparse.Namespace
                          ) -> dict[str, Any]:
    """sessapp-gc's collector, each batch's transaction timed, while wrk keeps
    the signed-in page busy on the same database."""
    from bench.gc_timing import timed_collect

    ini = next(item.server.log_path.parent.glob(f"server-{item.server.port}.ini"))
    before = count_sessions(item.url)
    load = Load(item.server.port, Spec("/profile", headers={"Cookie": item.cookie}),
                seconds=args.gc_max_seconds, connections=args.connections,
                threads=args.threads).start()
    try:
        time.sleep(1.0)
        outcome = timed_collect(str(ini), batch_size=args.gc_batch)
    finally:
        load.stop_early()
        served = load.result()
    left = count_sessions(item.url)
    status, _, _ = Browser(item.server.port).get(
        "/profile", headers={"Cookie": item.cookie})
    batches = sorted(outcome["batch_seconds"])
    summary = {
        "backend": backend, "expired_rows": item.size, "before": before, "left": left,
        "deleted": outcome["sessions"], "seconds": outcome["seconds"],
        "rows_per_s": outcome["sessions"] / outcome["seconds"],
        "batch_size": args.gc_batch, "batches": len(batches),
        "batch_p50_ms": statistics.median(batches) * 1000,
        "batch_max_ms": batches[-1] * 1000,
        "batch_p99_ms": batches[min(len(batches) - 1, int(len(batches) * 0.99))] * 1000,
        "batches_over_100ms": sum(1 for b in batches if b > 0.1),
        "slowest_batches": sorted(((round(b * 1000, 1), i) for i, b in
                                   enumerate(outcome["batch_seconds"])), reverse=True)[:5],
        "serving_rps": served.rps, "serving_p50_ms": served.p50_ms,
        "serving_p99_ms": served.p99_ms, "serving_errors": served.errors,
        "signed_in_after": status == 200,
    }
    log(f"{LABELS[backend]} gc: {summary['deleted']} rows in {summary['seconds']:.1f}s "
        f"({summary['rows_per_s']:.0f} rows/s), {len(batches)} batches, longest "
        f"{summary['batch_max_ms']:.0f} ms (slowest [ms, index]: "
        f"{summary['slowest_batches']}); meanwhile /profile {served.rps:.0f} req/s, "
        f"p99 {served.p99_ms:.1f} ms")
    return summary


def gc_only(backend: str, folder: Path, args: argparse.Namespace, report: Report) -> None:
    rows = args.gc_rows if backend == "postgresql" else args.gc_other_rows
    with ExitStack() as stack:
        item = prepare_sized(stack, backend, rows, folder)
        report.gc.append(collect_while_serving(backend, item, args))


# -- output --------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _round_ratio(item: dict[str, Any], base: dict[str, Any], key: str) -> float:
    """The median over rounds of item/base - 1: the machine's drift between rounds
    cancels, since both were measured seconds apart."""
    return statistics.median(a / b - 1 for a, b in zip(item[key], base[key], strict=True))


# Issue 16's targets for server CPU per request from one connection, as a
# multiple of the bare view's in the same run (printed, not enforced: CPU time
# on a shared machine moves too much to fail a run on).
CPU_TARGETS = {
    "static file, with session cookie": 1.5,
    "home page, anonymous": 2.0,
    "GET /profile, signed in": 3.0,
}


def cpu_ratio_lines(rows: list[Row]) -> list[str]:
    """One connection: each request's server CPU against the bare view's, its
    target, and whether bearer /api/me costs less than /profile."""
    rated = [row for row in rows if row.serial_cpu_ratio is not None]
    if not rated:
        return []
    lines = ["", "One connection, server CPU per request against the bare view's (same run):",
             "", "| database | request | server CPU ms/req | times the bare view's | target "
             "| met |", "|---|---|---:|---:|---:|---|"]
    for row in rated:
        target = CPU_TARGETS.get(row.scenario)
        met = "" if target is None else ("yes" if row.serial_cpu_ratio <= target else "no")
        lines.append(f"| {LABELS[row.backend]} | {row.scenario} | {_num(row.serial_cpu_ms)} "
                     f"| {row.serial_cpu_ratio:.2f} | {'' if target is None else f'{target:g}'} "
                     f"| {met} |")
    by_key = {(row.backend, row.scenario): row for row in rated}
    for backend in dict.fromkeys(row.backend for row in rated):
        api = by_key.get((backend, "GET /api/me, bearer token"))
        page = by_key.get((backend, "GET /profile, signed in"))
        if api is not None and page is not None:
            cheaper = "yes" if api.serial_cpu_ms < page.serial_cpu_ms else "no"
            lines.append(f"\n{LABELS[backend]}: GET /api/me {api.serial_cpu_ms:.2f} ms against "
                         f"GET /profile {page.serial_cpu_ms:.2f} ms of CPU; cheaper: {cheaper}.")
    return lines


def tables(report: Report) -> str:
    lines: list[str] = []
    if report.rows:
        lines += [
            "| database | request | req/s | ratio to bare | p50 ms | p99 ms | server CPU ms/req "
            "| 1 connection: req/s | ratio to bare | server CPU ms/req "
            "| SQL/req | writes/req | BEGIN+COMMIT/ROLLBACK per req | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for row in report.rows:
        lines.append(
            f"| {LABELS[row.backend]} | {row.scenario} | {row.rps:.0f} | {_num(row.ratio)} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | {_num(row.cpu_ms)} "
            f"| {_num(row.serial_rps, 0)} | {_num(row.serial_ratio)} | {_num(row.serial_cpu_ms)} "
            f"| {_num(row.statements, 3)} | {_num(row.writes, 3)} | {_num(row.tx_commands, 3)} "
            f"| {row.errors} |")
    lines += cpu_ratio_lines(report.rows)
    if report.counts:
        lines += ["", "| database | request | requests | SQL/req | writes/req "
                  "| BEGIN+COMMIT/ROLLBACK per req |", "|---|---|---:|---:|---:|---:|"]
        for item in report.counts:
            lines.append(f"| {LABELS[item['backend']]} | {item['scenario']} | "
                         f"{item['requests']} | {item['statements']:.3f} "
                         f"| {item['writes']:.3f} | {item['tx_commands']:.3f} |")
    if report.logins:
        lines += ["", "| database | sign-in p50 ms | one bcrypt check ms | ratio | samples |",
                  "|---|---:|---:|---:|---:|"]
        for item in report.logins:
            lines.append(f"| {LABELS[item['backend']]} | {item['login_p50_ms']:.0f} "
                         f"| {item['bcrypt_ms']:.0f} | {item['ratio']:.2f} | {item['samples']} |")
    if report.sizes:
        lines += ["", "| stored sessions (PostgreSQL) | req/s | p50 ms | p99 ms | errors |",
                  "|---:|---:|---:|---:|---:|"]
        for item in report.sizes:
            lines.append(f"| {item['stored_sessions']:,} | {item['rps']:.0f} "
                         f"| {item['p50_ms']:.2f} | {item['p99_ms']:.2f} | {item['errors']} |")
        p50s = [i["p50_ms"] for i in report.sizes]
        p99s = [i["p99_ms"] for i in report.sizes]
        lines.append("")
        lines.append(f"Spread over the sizes (max/min - 1): p50 {max(p50s) / min(p50s) - 1:.1%}, "
                     f"p99 {max(p99s) / min(p99s) - 1:.1%} (medians of the interleaved rounds).")
        smallest = report.sizes[0]
        for item in report.sizes[1:]:
            lines.append(
                f"{item['stored_sessions']:,} against {smallest['stored_sessions']:,} in the same "
                f"round (median): p50 {_round_ratio(item, smallest, 'round_p50_ms'):+.1%}, "
                f"p99 {_round_ratio(item, smallest, 'round_p99_ms'):+.1%}.")
    if report.gc:
        lines += ["", "| database | expired rows | deleted | seconds | rows/s | batch size "
                  "| batches | batch p50 ms | longest batch ms | batches over 100 ms "
                  "| /profile meanwhile req/s | p99 ms | live session kept |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for item in report.gc:
            lines.append(
                f"| {LABELS[item['backend']]} | {item['expired_rows']:,} | {item['deleted']:,} "
                f"| {item['seconds']:.1f} | {item['rows_per_s']:,.0f} | {item['batch_size']} "
                f"| {item['batches']} | {item['batch_p50_ms']:.1f} | {item['batch_max_ms']:.1f} "
                f"| {item['batches_over_100ms']} | {item['serving_rps']:.0f} "
                f"| {item['serving_p99_ms']:.1f} "
                f"| {'yes' if item['signed_in_after'] and item['left'] >= 1 else 'NO'} |")
    return "\n".join(lines)


def plot(report: Report, path: Path) -> None:
    from bench.plot import plot_sizes

    plot_sizes(report.sizes, path, note=f"load average {report.load_before[0]:.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of load per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent keep-alive connections (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--serial-duration", type=float, default=5.0,
                        help="seconds of each request from one connection at a time, "
                             "after the main run (default 5; 0 skips)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="databases for the request table (default: all reachable)")
    parser.add_argument("--parts", default="requests,sizes,gc,scaling",
                        help="what to run: requests, sizes, gc, scaling, counts (default: "
                             "the first four; counts checks only the statement counts, in "
                             "seconds; scaling is /profile on PostgreSQL with 1, 2 and N "
                             "gunicorn processes, bench/scaling.py)")
    parser.add_argument("--count-requests", type=int, default=20,
                        help="requests of each kind for --parts counts (default 20)")
    parser.add_argument("--budget", action="append", default=[], metavar="SCENARIO:KEY=N",
                        help="another budget for this run, e.g. 'GET /profile, signed in:"
                             "statements=1' (KEY: statements, writes, tx_commands; "
                             "repeatable; the table is in bench/budgets.py)")
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="stored sessions for the PostgreSQL sweep")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the size sweep (default 5)")
    parser.add_argument("--sweep-duration", type=float, default=10.0,
                        help="seconds of load per size and round (default 10)")
    parser.add_argument("--gc-rows", type=int, default=1_000_000,
                        help="expired sessions for sessapp-gc to delete on PostgreSQL "
                             "(default 1000000)")
    parser.add_argument("--gc-other-rows", type=int, default=100_000,
                        help="the same on SQLite and MariaDB (default 100000: they delete "
                             "far slower, and MariaDB takes minutes to load a million)")
    parser.add_argument("--gc-batch", type=int, default=5000,
                        help="sessapp-gc --batch-size (default 5000)")
    parser.add_argument("--gc-backends", default="postgresql,sqlite,mysql",
                        help="databases to run the collector on (default: all reachable)")
    parser.add_argument("--gc-max-seconds", type=float, default=180.0,
                        help="the longest the load during collection may run")
    parser.add_argument("--logins", type=int, default=9,
                        help="sign-ins timed per database (default 9)")
    scaling.add_arguments(parser)
    parser.add_argument("--plot", type=Path, help="write the size-sweep plot (PNG) here")
    parser.add_argument("--scaling-plot", type=Path,
                        help="write the process-scaling plot (PNG) here")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = args.parts - {"requests", "sizes", "gc", "scaling", "counts"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    try:
        args.budgets = budgets.with_overrides(args.budget)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(started=datetime.now(UTC).isoformat(timespec="seconds"),
                    load_before=os.getloadavg(), tool="wrk" if have_wrk() else "python",
                    settings={k: (sorted(v) if isinstance(v, set) else
                                  str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items() if k != "budgets"})
    log(f"load average {report.load_before}; load generator: {report.tool}")
    reachable = {b for b in BACKENDS if databases.reachable(b)}
    for backend in set(BACKENDS) - reachable:
        log(f"{LABELS[backend]} is not reachable: skipped")
    with tempfile.TemporaryDirectory(prefix="sessapp-bench-") as name:
        folder = Path(name)
        steps: list[Callable[[], None]] = []
        if "counts" in args.parts:
            for backend in args.backends.split(","):
                if backend in reachable:
                    steps.append(lambda b=backend: count_rows(b, folder, args, report))
        if "requests" in args.parts:
            chosen = [b for b in args.backends.split(",") if b in reachable]

            def requests_part() -> None:
                with bare_server(folder) as bare:
                    for backend in chosen:
                        request_rows(backend, bare, folder, args, report)

            steps.append(requests_part)
        if "sizes" in args.parts and "postgresql" in reachable:
            steps.append(lambda: size_sweep(folder, args, report))
        if "gc" in args.parts and args.gc_rows:
            for backend in args.gc_backends.split(","):
                if backend not in reachable:
                    continue
                if backend == "postgresql" and "sizes" in args.parts and \
                        max(args.sizes) == args.gc_rows:
                    continue  # collected at the end of the size sweep, on its largest table
                steps.append(lambda b=backend: gc_only(b, folder, args, report))
        for step in steps:
            step()
    scaled: list[scaling.Summary] = []
    if "scaling" in args.parts:
        scaled = scaling.report(args, args.scaling_plot, echo=False)
        report.scaling = [asdict(s) for s in scaled]
    counted = report.counts + [asdict(row) for row in report.rows]
    report.over_budget = budgets.exceeded(counted, args.budgets, LABELS)
    report.load_after = os.getloadavg()
    log(f"load average {report.load_after}")
    text = tables(report)
    if scaled:
        text += "\n\n" + scaling.table(scaled, args.scaling_cores or scaling.cores())
    print(text)
    if report.rows or report.sizes:
        print(f"\nload average before {report.load_before[0]:.2f}, after "
              f"{report.load_after[0]:.2f}; load by {report.tool}, {args.connections} "
              f"connections, {args.duration:g} s per row, {args.sweep_duration:g} s per size "
              f"and round")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    if args.plot and report.sizes:
        plot(report, args.plot)
        log(f"wrote {args.plot}")
    if report.over_budget:
        print("\nOver the statement budget (bench/budgets.py):", file=sys.stderr)
        for line in report.over_budget:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
