"""sessapp's own CPU per request, without a server: the floor under ``make bench``.

``make bench`` measures through waitress, where a request also pays for sockets,
threads and the GIL changing hands, and where the machine's other work shows up
as noise. This calls the WSGI app directly, one request at a time, and reports
the CPU time each kind of request takes, the best of several rounds, against the
bare Pyramid view called the same way. It is the figure to compare before and
after a change to sessapp's own code; ``--profile`` shows where that time goes.

Run from the repository root::

    .venv/bin/python -m bench.inprocess                       # SQLite
    .venv/bin/python -m bench.inprocess --backends sqlite,postgresql,mysql
    .venv/bin/python -m bench.inprocess --profile profile     # cProfile of one case
    .venv/bin/python -m bench.inprocess --backends postgresql --setting sessapp.pgbouncer=true
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyramid.paster import get_appsettings

from bench.bare import main as bare_app
from sessapp import make_app
from sessapp.testing.client import CSRF_FIELD
from sessapp.testing.databases import TESTING_INI, reachable, scratch_database

USERNAME = "mallory"
PASSWORD = "correct horse battery staple, measured"  # noqa: S105 - a throwaway account
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB"}


@dataclass(frozen=True)
class Case:
    name: str
    app: Callable[..., Any]
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    expect: str = "200"


def environ(case: Case, number: int) -> dict[str, Any]:
    """A WSGI environ as waitress builds one for a browser-like request."""
    body = case.body.replace(b"@N@", str(number).encode())
    env: dict[str, Any] = {
        "REQUEST_METHOD": case.method, "PATH_INFO": case.path, "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "6543",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:6543", "HTTP_USER_AGENT": "bench",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in case.headers.items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return env


def call(case: Case, number: int = 0) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(line: str, headers: list[Any], exc_info: Any = None) -> None:
        status.append(line)

    result = case.app(environ(case, number), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return status[0], body


def cpu_per_request(case: Case, requests: int, rounds: int) -> tuple[float, float]:
    """Seconds of this process's CPU per request, and of wall-clock time (which
    adds the database server's work and the round trips): the best round of
    each, since noise from the rest of the machine only ever adds."""
    per_round = max(1, requests // rounds)
    number = 0
    best = best_wall = float("inf")
    for _ in range(rounds):
        started, started_wall = time.process_time(), time.perf_counter()
        for _ in range(per_round):
            number += 1
            call(case, number)
        best = min(best, (time.process_time() - started) / per_round)
        best_wall = min(best_wall, (time.perf_counter() - started_wall) / per_round)
    return best, best_wall


class Client:
    """Just enough of a browser to sign in and collect what the cases send."""

    def __init__(self, app: Callable[..., Any]) -> None:
        from webtest import TestApp

        self.app = TestApp(app, extra_environ={"HTTP_HOST": "127.0.0.1:6543"})

    def csrf(self, path: str) -> str:
        page = self.app.get(path)
        match = CSRF_FIELD.search(page.text)
        if match is None:
            raise RuntimeError(f"no CSRF token on {path}")
        return match.group(1)

    def sign_up(self) -> str:
        self.app.post("/register", {"username": USERNAME, "password": PASSWORD,
                                    "csrf_token": self.csrf("/register")}, status=303)
        return self.app.cookies["session"]

    def api_token(self) -> str:
        reply = self.app.post_json("/api/tokens", {"name": "bench", "expires_in_days": 1,
                                                   "current_password": PASSWORD},
                                   headers={"X-CSRF-Token": self.csrf("/profile")},
                                   status=201)
        return reply.json["token"]


def cases_for(url: str, extra: dict[str, str]) -> list[Case]:
    settings = dict(get_appsettings(TESTING_INI))
    settings.update({"sqlalchemy.url": url, "auth.bcrypt_rounds": "4", **extra})
    app = make_app(settings)
    client = Client(app)
    cookie = f"session={client.sign_up()}"
    token = client.api_token()
    csrf = client.csrf("/profile")
    # Signed-in pages touch the session once a minute; do that now, not mid-run.
    client.app.get("/profile")
    return [
        Case("bare", bare_app({}), "GET", "/", {}),
        Case("home", app, "GET", "/", {}),
        Case("static", app, "GET", "/static/sessapp.css", {"Cookie": cookie}),
        Case("profile", app, "GET", "/profile", {"Cookie": cookie}),
        Case("api_me", app, "GET", "/api/me", {"Authorization": f"Bearer {token}"}),
        Case("write", app, "POST", "/session-data",
             {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"},
             body=b'{"key": "n", "value": "@N@"}'),
    ]


DESCRIPTIONS = {
    "bare": "bare Pyramid view",
    "home": "home page, anonymous",
    "static": "static file, with session cookie",
    "profile": "GET /profile, signed in",
    "api_me": "GET /api/me, bearer token",
    "write": "POST /session-data (one write)",
}


def measure(backend: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with scratch_database(backend, "inprocess") as url:
        cases = cases_for(url, args.setting)
        for case in cases:
            status, _ = call(case)
            if not status.startswith(case.expect):
                raise RuntimeError(f"{case.name}: expected {case.expect}, got {status}")
            for number in range(args.warmup):
                call(case, number)
        if args.profile:
            chosen = next(c for c in cases if c.name == args.profile)
            profile(chosen, args.requests)
            return []
        bare = None
        for case in cases:
            seconds, wall = cpu_per_request(case, args.requests, args.rounds)
            bare = seconds if case.name == "bare" else bare
            rows.append({"backend": backend, "request": DESCRIPTIONS[case.name],
                         "us": seconds * 1e6, "wall_us": wall * 1e6,
                         "ratio": None if case.name == "bare" else bare / seconds})
    return rows


def profile(case: Case, requests: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for number in range(requests):
        call(case, number)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def table(rows: Iterable[dict[str, Any]]) -> str:
    lines = ["| database | request | CPU µs/request | ratio to bare | wall µs/request |",
             "|---|---|---:|---:|---:|"]
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(f"| {LABELS[row['backend']]} | {row['request']} | {row['us']:.0f} "
                     f"| {ratio} | {row['wall_us']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite",
                        help="databases, comma-separated (default sqlite)")
    parser.add_argument("--requests", type=int, default=5000,
                        help="requests per case, over all rounds (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case (default 5)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first")
    parser.add_argument("--profile", choices=sorted(DESCRIPTIONS),
                        help="print a cProfile of this case instead of the table")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="an app setting over testing.ini's, e.g. sessapp.pgbouncer=true "
                             "(repeatable)")
    args = parser.parse_args(argv)
    pairs = [item.partition("=") for item in args.setting]
    if any(not key.strip() or not sep for key, sep, _ in pairs):
        parser.error("--setting takes KEY=VALUE")
    args.setting = {key.strip(): value.strip() for key, _, value in pairs}
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in LABELS]
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")
    rows: list[dict[str, Any]] = []
    for backend in backends:
        if not reachable(backend):
            print(f"{LABELS[backend]}: no server answers; skipped", file=sys.stderr)
            continue
        rows += measure(backend, args)
    if rows:
        print(table(rows))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
