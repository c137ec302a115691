"""Reliability under load: simulated browsers against real ``pserve`` processes.

``python -m bench.reliability`` (``make load``) runs, on each database named:

1. A *mix*: N concurrent simulated browsers, each its own user, doing what people
   do: register or sign in, browse signed-in pages (``/profile``, ``/sessions``),
   store session data (``POST /session-data`` with the page's CSRF token), read it
   back, sign out, and sign in again. Every value a browser was told was stored
   must be there when it reads its session back; every cookie it signed out with
   must answer as signed out (``/profile`` -> 303 to ``/login``).
2. While the mix runs, *one session under fire*: several sessions, each hammered
   by W threads at once, round after round, every thread storing its own key;
   every key must be there at the end. And *logout racing writes*: a session is
   signed out while W threads keep writing to it; nothing may bring it back.

It prints throughput, p50/p99 latency, the errors, and each app process's
resident memory at start and end, and exits non-zero if a value was lost, a
signed-out session answered as signed in, any answer was a 5xx, or any other
answer was not the one the contract promises.

Everything is bounded: a run stops at its deadline or at a hard cap on requests,
every socket has a timeout, every join has one. Only 127.0.0.1 is used. Each run
creates its own database (a temporary SQLite file, or a uniquely named database
on the PostgreSQL / MariaDB server) and drops it afterwards, and stops every
``pserve`` it started, by PID, whatever happened.

The pieces (``Database``, ``start_app``, ``Browser``, ``MixRun``, the phases) are
also used by ``tests/test_load.py`` and ``tests/test_faults.py``.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import CSRF_FIELD, encode, follow_set_cookies
from bench.databases import SERVER_URLS, create_database, drop_database, upgrade

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TESTING_INI = ROOT / "testing.ini"
LOOPBACK = "127.0.0.1"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the test users' password
SESSION_COOKIE = "session"

CLIENT_TIMEOUT = 30.0  # one request, socket-level
STARTUP_TIMEOUT = 30.0  # pserve until /healthz answers
STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL
JOIN_TIMEOUT = 120.0  # past a phase's own deadline
DEFAULT_MAX_REQUESTS = 1_000_000  # hard cap for one database's run, all phases
MAX_DEAD_COOKIES = 2000  # signed-out cookies kept for the final re-check
RESYNC_TRIES = 100  # a browser finding out whether it is signed in, 0.2 s apart


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- databases ----------------------------------------------------------------


class Database:
    """A throwaway, migrated database: ``with Database("sqlite") as db: db.url``.

    ``server_url`` names any database on the server that the user may connect
    to (PostgreSQL / MariaDB); a new one named ``sessapp_load_<random>`` is
    created beside it and dropped (forcibly, on PostgreSQL) at the end.
    ``serializable`` makes every transaction in it SERIALIZABLE (PostgreSQL).
    """

    def __init__(self, kind: str, *, server_url: str | None = None,
                 serializable: bool = False) -> None:
        if kind not in ("sqlite", "postgresql", "mysql"):
            raise ValueError(f"unknown database {kind!r}")
        self.kind = kind
        self.server_url = server_url or SERVER_URLS.get(kind)
        self.serializable = serializable
        self.name = f"sessapp_load_{secrets.token_hex(4)}"
        self.url = ""
        self._tmpdir: str | None = None
        self._engine: Any = None
        self._created = False

    def __enter__(self) -> Database:
        self.create()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()

    def _admin(self) -> Any:
        from sqlalchemy import create_engine, make_url

        return create_engine(make_url(self.server_url), isolation_level="AUTOCOMMIT",
                             connect_args=self._connect_args())

    def _connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10} if self.kind in ("postgresql", "mysql") else {}

    def create(self) -> str:
        from sqlalchemy import text

        if self.kind == "sqlite":
            self._tmpdir = tempfile.mkdtemp(prefix="sessapp-load-")
            self.url = f"sqlite:///{self._tmpdir}/{self.name}.sqlite"
        else:
            admin = self._admin()
            try:
                self.url = create_database(admin, self.kind, self.name)
                self._created = True
                if self.serializable:
                    with admin.connect() as connection:
                        connection.execute(text(
                            f"ALTER DATABASE {self.name} "
                            "SET default_transaction_isolation = 'serializable'"))
            finally:
                admin.dispose()
        upgrade(self.url)
        return self.url

    def engine(self) -> Any:
        """An engine for checks from outside the app (NullPool: nothing lingers)."""
        if self._engine is None:
            from sqlalchemy import create_engine, event
            from sqlalchemy.pool import NullPool

            from sessapp.models import _sqlite_pragmas

            self._engine = create_engine(self.url, poolclass=NullPool,
                                         connect_args=self._connect_args())
            if self.kind == "sqlite":
                event.listen(self._engine, "connect", _sqlite_pragmas)
        return self._engine

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine().connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def drop(self) -> None:

        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.kind == "sqlite":
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
            return
        if not self._created:
            return
        admin = self._admin()
        try:
            drop_database(admin, self.kind, self.name)
        finally:
            admin.dispose()


def server_problem(kind: str) -> str | None:
    """Why the database server for ``kind`` cannot be used, or None."""
    if kind == "sqlite":
        return None
    if kind not in SERVER_URLS:
        return "unknown database (use sqlite, postgresql or mysql)"
    from sqlalchemy import create_engine, text

    engine = create_engine(SERVER_URLS[kind], connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or connection failure
        return (f"server not reachable at {SERVER_URLS[kind]} ({type(exc).__name__}); "
                f"set SESSAPP_TEST_{kind.upper()}_URL or leave it out of --databases")
    finally:
        engine.dispose()
    return None


def create_users(db: Database, names: list[str]) -> None:
    """Create users with PASSWORD, as ``sessapp-user add`` would (bcrypt cost 4)."""
    import transaction

    from sessapp.accounts import users as accounts
    from sessapp.accounts.password_policy import PasswordPolicy
    from sessapp.accounts.passwords import PasswordHasher
    from sessapp.clock import SystemClock
    from sessapp.models import get_session_factory, get_tm_session

    hasher, policy, now = PasswordHasher(4), PasswordPolicy(12), SystemClock().now()
    factory = get_session_factory(db.engine())
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        dbsession = get_tm_session(factory, manager)
        for name in names:
            accounts.create_user(dbsession, hasher, policy, name, PASSWORD, now)


# -- app processes ------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int | None:
    """Resident memory of a live process, from /proc/<pid>/status (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def load_settings(threads: int) -> dict[str, str]:
    """The app settings of a load run: throttles far above anything the run
    does (every browser comes from 127.0.0.1), and a pool per process sized to
    waitress's threads plus headroom, as the README advises."""
    return {
        "auth.throttle.max_failures": "100000",
        "auth.throttle.ip_max_failures": "100000",
        "sqlalchemy.pool_size": str(threads + 2),
        "sqlalchemy.max_overflow": "4",
        "sqlalchemy.pool_timeout": "20",
    }


@dataclass
class AppServer:
    """One ``pserve`` process. Stopped by its PID: SIGTERM, then SIGKILL."""

    name: str
    port: int
    process: subprocess.Popen
    ini: Path
    log_path: Path
    rss_start_kib: int | None = None
    rss_end_kib: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid) if self.alive() else None

    def kill(self) -> None:
        """SIGKILL, as a crash would (the fault tests)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)


def write_ini(path: Path, db_url: str, port: int, *, threads: int,
              app: dict[str, str] | None = None) -> Path:
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep keys' case
    parser.read(TESTING_INI)
    for key, value in {"sqlalchemy.url": db_url, **load_settings(threads),
                       **(app or {})}.items():
        parser.set("app:main", key, value)
    server = {
        "listen": f"{LOOPBACK}:{port}",
        "threads": str(threads),
        # More keep-alive connections than browsers, so none waits to be accepted.
        "connection_limit": "1000",
    }
    for key, value in server.items():
        parser.set("server:main", key, value)
    parser.set("alembic", "script_location", str(ROOT / "migrations"))
    # One line per request would be the bulk of the log; warnings (retries of
    # transient database errors among them) are what a run wants to count.
    parser.set("logger_root", "level", "WARN")
    parser.set("logger_sessapp", "level", "WARN")
    with path.open("w") as handle:
        parser.write(handle)
    return path


def start_app(workdir: Path, db_url: str, *, name: str = "app", threads: int = 8,
              app: dict[str, str] | None = None) -> AppServer:
    """Start ``pserve`` on a free loopback port and wait until /healthz answers."""
    port = free_port()
    ini = write_ini(workdir / f"{name}-{port}.ini", db_url, port, threads=threads, app=app)
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            [str(BIN / "pserve"), str(ini)], stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, "SESSAPP_DATABASE_URL": db_url}, cwd=str(workdir),
        )
    server = AppServer(name=name, port=port, process=process, ini=ini, log_path=log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"pserve exited with {process.returncode}:\n{server.log()}")
            try:
                connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    server.rss_start_kib = server.rss_kib()
                    return server
                connection.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pserve did not answer within {STARTUP_TIMEOUT}s:\n{server.log()}")
    except BaseException:
        server.stop()
        raise


@contextlib.contextmanager
def app_servers(workdir: Path, db_url: str, count: int,
                **kwargs: Any) -> Iterator[list[AppServer]]:
    """``count`` app processes on one database, all stopped on the way out."""
    servers: list[AppServer] = []
    try:
        for number in range(count):
            servers.append(start_app(workdir, db_url, name=f"app{number}", **kwargs))
        yield servers
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                if server.alive():
                    server.rss_end_kib = server.rss_end_kib or server.rss_kib()
            server.stop()


_LOG_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\dT", re.M)


def log_records(server: AppServer) -> list[str]:
    """The app's log split into records (a record may span several lines).

    A process that has logged nothing yet has an empty log, and no records."""
    text = server.log()
    starts = [match.start() for match in _LOG_RECORD_START.finditer(text)]
    ends = [*starts[1:], len(text)] if starts else []
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def transient_retries(servers: list[AppServer]) -> Counter[str]:
    """How many transient database errors of each kind the app logged (each one
    was handed to pyramid_retry; only an exhausted one reaches the user, as a 503)."""
    kinds: Counter[str] = Counter()
    for server in servers:
        for record in log_records(server):
            if "transient database error" not in record:
                continue
            lowered = record.lower()
            if "deadlock" in lowered:
                kinds["deadlock"] += 1
            elif "could not serialize" in lowered:
                kinds["serialization failure"] += 1
            elif "database is locked" in lowered:
                kinds["database is locked"] += 1
            elif "sessionconflict" in lowered or "changed or ended concurrently" in lowered:
                kinds["session version conflict"] += 1
            else:
                kinds["other"] += 1
    return kinds


# -- HTTP ---------------------------------------------------------------------


class TransportError(Exception):
    """No HTTP answer at all (refused, reset, timed out)."""


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str
    started: float
    ended: float

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def csrf(self) -> str | None:
        match = CSRF_FIELD.search(self.body)
        return match.group(1) if match else None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Event:
    """One answered request, kept for the fault tests' time-window checks."""

    started: float
    ended: float
    method: str
    path: str
    status: int
    retry_after: bool
    port: int
    signed_in_cookie: bool


class Stats:
    """Counts shared by every client thread of one run; also the hard cap."""

    def __init__(self, max_requests: int = DEFAULT_MAX_REQUESTS, *,
                 keep_events: bool = False) -> None:
        self.lock = threading.Lock()
        self.max_requests = max_requests
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.transport_errors: list[str] = []
        self.failures: list[str] = []
        self.lost_values = 0
        self.resurrected = 0
        self.dead_cookies: list[str] = []
        self.keep_events = keep_events
        self.events: list[Event] = []

    def take(self) -> bool:
        """One more request allowed? False once the hard cap is reached."""
        with self.lock:
            if self.sent >= self.max_requests:
                return False
            self.sent += 1
            return True

    def record(self, method: str, path: str, port: int, reply: Reply,
               signed_in_cookie: bool) -> None:
        with self.lock:
            self.latencies.append(reply.ended - reply.started)
            self.statuses[reply.status] += 1
            if reply.status >= 500:
                self.server_errors.append(f"{reply.status} {method} {path}: "
                                          f"{_title(reply.body)}")
            if self.keep_events:
                self.events.append(Event(reply.started, reply.ended, method, path,
                                         reply.status, "Retry-After" in reply.headers,
                                         port, signed_in_cookie))

    def transport_error(self, message: str) -> None:
        with self.lock:
            self.transport_errors.append(message)

    def fail(self, message: str, *, lost: int = 0, resurrected: int = 0) -> None:
        with self.lock:
            self.failures.append(message)
            self.lost_values += lost
            self.resurrected += resurrected

    def dead_cookie(self, cookie: str) -> None:
        with self.lock:
            if len(self.dead_cookies) < MAX_DEAD_COOKIES:
                self.dead_cookies.append(cookie)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, fraction: float) -> float:
        with self.lock:
            ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        if fraction == 0.5:
            return statistics.median(ordered) * 1000
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def _title(body: str) -> str:
    match = re.search(r"<title>(.*?)</title>", body, re.S)
    return (match.group(1) if match else body[:120]).strip()


class Browser:
    """One browser: a cookie jar kept by hand and one keep-alive connection.

    ``ports`` are the app processes it may use (a load balancer's pool); it talks
    to ``ports[0]`` until told to fail over.
    """

    def __init__(self, stats: Stats, ports: list[int], name: str) -> None:
        self.stats = stats
        self.ports = list(ports)
        self.name = name
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    def fail_over(self) -> bool:
        """Move to the next app process; False if there is none."""
        self.close()
        if len(self.ports) < 2:
            return False
        self.ports = self.ports[1:]
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(self, method: str, path: str, body: str | None,
              headers: dict[str, str]) -> http.client.HTTPResponse:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(LOOPBACK, self.port,
                                                          timeout=CLIENT_TIMEOUT)
        self._connection.request(method, path, body=body, headers=headers)
        return self._connection.getresponse()

    def request(self, method: str, path: str, form: dict[str, str] | None = None, *,
                headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None,
                keep_cookies: bool = True) -> Reply:
        """Send one request. ``cookies`` replaces the jar for this request only
        (and then the answer's cookies are not kept)."""
        if not self.stats.take():
            raise BudgetExhausted()
        jar = self.cookies if cookies is None else cookies
        all_headers, body = encode({"Host": f"{LOOPBACK}:{self.port}",
                                    "User-Agent": "sessapp-load", **(headers or {})},
                                   jar, form=form)
        started = time.monotonic()
        reused = self._connection is not None
        try:
            try:
                response = self._send(method, path, body, all_headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection before reading
                # the request: send it again on a new one, as browsers do.
                self.close()
                if not reused:
                    raise
                response = self._send(method, path, body, all_headers)
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            message = f"{self.name} {method} {path} on :{self.port}: {type(exc).__name__}: {exc}"
            self.stats.transport_error(message)
            raise TransportError(message) from exc
        reply = Reply(response.status, response.headers, text, started, time.monotonic())
        if response.will_close:
            self.close()
        self.stats.record(method, path, self.port, reply, SESSION_COOKIE in jar)
        if cookies is None and keep_cookies:
            follow_set_cookies(self.cookies, response.headers.get_all("Set-Cookie") or [])
        return reply


class BudgetExhausted(Exception):
    """The run's hard cap on requests was reached."""


class Unexpected(Exception):
    """An answer the contract does not allow here; the scenario resynchronises."""


# -- the mix ------------------------------------------------------------------


class SimulatedUser:
    """One person at one browser, going round the site until told to stop.

    ``expected`` is what this browser was told its current session holds (a 303
    from ``POST /session-data``); values whose answer never came are dropped
    from it, because nobody can know whether they were stored.
    ``tolerate_503`` (fault runs): a 503 with Retry-After is an honest answer
    during an outage; the step is tried again after a short pause.
    """

    def __init__(self, browser: Browser, username: str, *, register: bool,
                 tolerate_503: bool = False, rng: random.Random | None = None) -> None:
        self.browser = browser
        self.username = username
        self.register_first = register
        self.tolerate_503 = tolerate_503
        self.rng = rng or random.Random()
        self.expected: dict[str, str] = {}
        self.signed_in = False
        self.csrf: str | None = None
        self.cycle = 0
        self.writes = 0
        self.sign_ins = 0
        self.failovers = 0
        self.sessions_lost = 0  # acknowledged sessions that vanished (must stay 0)
        self.step = ""  # the latest request sent
        self.in_doubt: str | None = None  # a request whose outcome is not known yet

    # each step returns the reply, or raises Unexpected/TransportError/BudgetExhausted

    def _expect(self, reply: Reply, statuses: tuple[int, ...], what: str) -> Reply:
        if reply.status in statuses:
            return reply
        if reply.status == 503 and self.tolerate_503 and "Retry-After" in reply.headers:
            raise Unavailable(what)
        raise Unexpected(f"{self.username}: {what} answered {reply.status} "
                         f"{reply.location or _title(reply.body)}")

    def _go(self, method: str, path: str, form: dict[str, str] | None = None,
            **kwargs: Any) -> Reply:
        self.step = f"{method} {path}"
        return self.browser.request(method, path, form, **kwargs)

    def sign_in(self) -> None:
        reply = None
        if self.register_first:
            page = self._expect(self._go("GET", "/register"), (200,), "GET /register")
            form = {"username": self.username, "password": PASSWORD,
                    "csrf_token": page.csrf() or ""}
            reply = self._expect(self._go("POST", "/register", form), (303, 422),
                                 "POST /register")
            self.register_first = False
            if reply.status == 422:
                # Taken: an earlier attempt whose answer was lost (a killed
                # process, a commit just before an outage) did create it.
                if "taken" not in reply.body:
                    raise Unexpected(f"{self.username}: registration refused: "
                                     f"{_title(reply.body)}")
                reply = None
        if reply is None:
            page = self._expect(self._go("GET", "/login"), (200,), "GET /login")
            form = {"username": self.username, "password": PASSWORD,
                    "csrf_token": page.csrf() or ""}
            reply = self._expect(self._go("POST", "/login", form), (303,), "POST /login")
        if not reply.location.endswith("/profile") or SESSION_COOKIE not in self.browser.cookies:
            raise Unexpected(f"{self.username}: sign-in gave no session ({reply.location})")
        self.signed_in = True
        self.sign_ins += 1
        self.expected = {}
        self.csrf = None

    def browse(self) -> None:
        page = self._expect(self._go("GET", "/profile"), (200,), "GET /profile")
        self.csrf = page.csrf()
        if self.rng.random() < 0.5:
            self._expect(self._go("GET", "/sessions"), (200,), "GET /sessions")

    def store(self) -> None:
        key = f"{self.username}-{self.cycle}-{self.writes}"
        value = secrets.token_hex(6)
        self.writes += 1
        form = {"key": key, "value": value, "csrf_token": self.csrf or ""}
        self._expect(self._go("POST", "/session-data", form), (303,), "POST /session-data")
        self.expected[key] = value

    def verify(self) -> None:
        reply = self._expect(self._go("GET", "/session-data"), (200,), "GET /session-data")
        self.check_values(reply.json())

    def check_values(self, stored: Any) -> None:
        stored = stored if isinstance(stored, dict) else {}
        missing = [k for k, v in self.expected.items() if stored.get(k) != v]
        if missing:
            self.browser.stats.fail(f"{self.username}: {len(missing)} stored value(s) lost, "
                                    f"e.g. {missing[0]}", lost=len(missing))
            self.expected = {k: v for k, v in self.expected.items() if k not in missing}

    def sign_out(self) -> None:
        old = self.browser.cookies.get(SESSION_COOKIE, "")
        self._expect(self._go("POST", "/logout", {"csrf_token": self.csrf or ""}),
                     (303,), "POST /logout")
        if SESSION_COOKIE in self.browser.cookies:
            raise Unexpected(f"{self.username}: logout left the session cookie in place")
        self.signed_in = False
        self.expected = {}
        self.browser.stats.dead_cookie(old)
        check_signed_out(self.browser, old, f"{self.username} right after logout")

    def one_cycle(self) -> None:
        if not self.signed_in:
            self.sign_in()
        self.browse()
        for _ in range(self.rng.randint(2, 5)):
            self.store()
            if self.rng.random() < 0.3:
                self._expect(self._go("GET", self.rng.choice(["/", "/profile"])), (200,),
                             "GET page")
        self.verify()
        self.cycle += 1
        if self.rng.random() < 0.6:
            self.sign_out()

    def resync(self) -> None:
        """After an unexpected answer or a lost connection: find out where we are."""
        reply = self._go("GET", "/profile")
        if reply.status == 200:
            self.signed_in = True
            self.csrf = reply.csrf()
            return
        if reply.status == 303 and "/login" in reply.location:
            self.browser.cookies.pop(SESSION_COOKIE, None)
            self.signed_in = False
            self.expected = {}
            return
        self._expect(reply, (200, 303), "GET /profile (resync)")

    def run(self, until: Callable[[], bool]) -> None:
        """Go round until ``until()`` is true or the request budget is spent."""
        while not until():
            try:
                self.one_cycle()
            except BudgetExhausted:
                return
            except Unavailable:
                # An honest 503 (an outage). Its request changed nothing, unless
                # the database committed it just before the connection broke,
                # which nobody can know: look before going on, as people reload.
                self.in_doubt = self.step
                self._reconcile(self.in_doubt, until)
            except TransportError:
                # The app process stopped answering: go to another one, if any.
                self.in_doubt = self.step
                if self.browser.fail_over():
                    self.failovers += 1
                else:
                    self._pause(0.2, until)
                self._reconcile(self.in_doubt, until)
            except Unexpected as exc:
                self.browser.stats.fail(str(exc))
                self._reconcile(None, until)

    def _pause(self, seconds: float, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            time.sleep(0.05)

    def _reconcile(self, in_doubt: str | None, until: Callable[[], bool]) -> None:
        """Find out whether we are still signed in (patiently, through an
        outage). Being signed out is fine if a sign-out was the request in doubt;
        otherwise a session the server had acknowledged is gone: a failure."""
        was_signed_in = self.signed_in
        for _ in range(RESYNC_TRIES):
            if until():
                return
            try:
                self.resync()
                break
            except (Unavailable, Unexpected, TransportError):
                self._pause(0.2, until)
            except BudgetExhausted:
                return
        else:
            self.browser.stats.fail(f"{self.username}: could not find out its state")
            return
        self.in_doubt = None
        # A value in doubt was never added to ``expected``. A sign-out in doubt
        # may or may not have happened; anything else must have left us signed in.
        if in_doubt is not None and was_signed_in and not self.signed_in \
                and "/logout" not in in_doubt:
            self.sessions_lost += 1
            self.browser.stats.fail(f"{self.username}: signed-in session lost after "
                                    f"{in_doubt} got no usable answer")


class Unavailable(Exception):
    """A 503 with Retry-After, where the run tolerates one (an outage)."""


def check_signed_out(browser: Browser, cookie: str, context: str) -> bool:
    """A signed-out cookie must get the anonymous answer: 303 to /login."""
    reply = browser.request("GET", "/profile", cookies={SESSION_COOKIE: cookie})
    if reply.status == 303 and "/login" in reply.location:
        return True
    if reply.status == 503:
        return True  # fail closed during an outage; checked again later
    browser.stats.fail(f"{context}: a signed-out cookie answered {reply.status} on /profile",
                       resurrected=1 if reply.status == 200 else 0)
    return False


@dataclass
class MixRun:
    """N simulated users in threads; ``start()``, then ``stop()`` and ``join()``."""

    stats: Stats
    servers: list[AppServer]
    usernames: list[str]
    register_every: int = 4  # every 4th browser registers instead of being created
    tolerate_503: bool = False
    seed: int = 0
    users: list[SimulatedUser] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0
    started: float = 0.0
    ended: float = 0.0

    def precreated(self) -> list[str]:
        """The usernames that must exist before the run (the others register)."""
        return [name for index, name in enumerate(self.usernames)
                if not self._registers(index)]

    def _registers(self, index: int) -> bool:
        return bool(self.register_every) and index % self.register_every == 0

    def start(self, seconds: float) -> MixRun:
        ports = [server.port for server in self.servers]
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        for index, name in enumerate(self.usernames):
            # Browsers are spread over the app processes, as a balancer would.
            mine = ports[index % len(ports):] + ports[:index % len(ports)]
            browser = Browser(self.stats, mine, name)
            user = SimulatedUser(browser, name, register=self._registers(index),
                                 tolerate_503=self.tolerate_503,
                                 rng=random.Random(f"{self.seed}-{index}"))
            self.users.append(user)
            thread = threading.Thread(target=self._run_one, args=(user,), name=f"user-{name}",
                                      daemon=True)
            self.threads.append(thread)
        for thread in self.threads:
            thread.start()
        return self

    def _until(self) -> bool:
        return self.stop_event.is_set() or time.monotonic() >= self.deadline

    def _run_one(self, user: SimulatedUser) -> None:
        try:
            user.run(self._until)
        except BaseException as exc:  # a bug in the client: report, never hang
            self.stats.fail(f"{user.username}: client crashed: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self.stop_event.set()

    def join(self) -> None:
        limit = time.monotonic() + max(0.0, self.deadline - time.monotonic()) + JOIN_TIMEOUT
        for thread in self.threads:
            thread.join(timeout=max(0.1, limit - time.monotonic()))
        self.ended = time.monotonic()
        hung = [t.name for t in self.threads if t.is_alive()]
        if hung:
            self.stats.fail(f"{len(hung)} browser thread(s) did not finish: {hung[:3]}")

    def final_checks(self, port: int | None = None) -> None:
        """While still signed in, every browser reads its session back; every
        signed-out cookie kept is tried once more (on ``port``: by default the
        first app process still alive)."""
        for user in self.users:
            user.tolerate_503 = False
            try:
                if not user.signed_in:
                    continue
                profile = user.browser.request("GET", "/profile")
                if profile.status == 303 and user.in_doubt and "/logout" in user.in_doubt:
                    continue  # the run stopped before it found out: the sign-out happened
                if profile.status != 200:
                    self.stats.fail(f"{user.username}: signed in, but /profile answered "
                                    f"{profile.status} at the end")
                    continue
                reply = user.browser.request("GET", "/session-data")
                if reply.status != 200:
                    self.stats.fail(f"{user.username}: final GET /session-data "
                                    f"answered {reply.status}")
                    continue
                user.check_values(reply.json())
            except (TransportError, BudgetExhausted) as exc:
                self.stats.fail(f"{user.username}: final check got no answer: {exc}")
            finally:
                user.browser.close()
        alive = [server.port for server in self.servers if server.alive()]
        port = port or (alive[0] if alive else None)
        if port is not None:
            checker = Browser(self.stats, [port], "dead-cookie-check")
            try:
                for cookie in list(self.stats.dead_cookies):
                    check_signed_out(checker, cookie, "final re-check")
            except (TransportError, BudgetExhausted) as exc:
                self.stats.fail(f"dead-cookie re-check got no answer: {exc}")
            finally:
                checker.close()


# -- one session under fire -----------------------------------------------------


def _run_threads(targets: list[Callable[[], None]], stats: Stats, what: str) -> None:
    errors: list[str] = []

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except (TransportError, BudgetExhausted) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            except BaseException as exc:  # reported below, never lost in a thread
                errors.append(f"{type(exc).__name__}: {exc}")
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True, name=f"{what}-{n}")
               for n, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    limit = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.1, limit - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        stats.fail(f"{what}: threads did not finish within {JOIN_TIMEOUT}s")
    for error in errors:
        stats.fail(f"{what}: {error}")


def _signed_in_browser(stats: Stats, ports: list[int], username: str) -> tuple[Browser, str]:
    browser = Browser(stats, ports, username)
    page = browser.request("GET", "/login")
    reply = browser.request("POST", "/login", {"username": username, "password": PASSWORD,
                                                "csrf_token": page.csrf() or ""})
    if reply.status != 303 or SESSION_COOKIE not in browser.cookies:
        raise Unexpected(f"{username}: sign-in answered {reply.status}")
    token = browser.request("GET", "/profile").csrf()
    if not token:
        raise Unexpected(f"{username}: no CSRF token on /profile")
    return browser, token


@dataclass
class SameSessionResult:
    sessions: int
    writers: int
    rounds: int
    writes: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    keys_missing: int = 0
    logout_races: int = 0
    logout_writes: Counter[int] = field(default_factory=Counter)
    resurrected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "writers": self.writers, "rounds": self.rounds,
                "writes": self.writes, "statuses": dict(self.statuses),
                "keys_missing": self.keys_missing, "logout_races": self.logout_races,
                "logout_race_writes": dict(self.logout_writes),
                "resurrected": self.resurrected}


def same_session_phase(stats: Stats, servers: list[AppServer], usernames: list[str], *,
                       writers: int, rounds: int) -> SameSessionResult:
    """Each of ``usernames`` signs in once; then, for every session at once,
    ``writers`` threads store their own key per round (a barrier starts each
    round together). Every key must be there afterwards. Writers are spread over
    every app process, so the race also runs across processes."""
    ports = [server.port for server in servers]
    result = SameSessionResult(sessions=len(usernames), writers=writers, rounds=rounds)
    lock = threading.Lock()
    sessions = [_signed_in_browser(stats, ports, name) for name in usernames]
    barriers = [threading.Barrier(writers) for _ in sessions]
    acknowledged: list[dict[str, str]] = [{} for _ in sessions]

    def writer(number: int, which: int) -> Callable[[], None]:
        owner, token = sessions[which]
        mine = Browser(stats, ports[number % len(ports):] + ports[:number % len(ports)],
                       f"{owner.name}-w{number}")

        def run() -> None:
            try:
                for round_ in range(rounds):
                    barriers[which].wait(timeout=JOIN_TIMEOUT)
                    key, value = f"w{number}-r{round_}", f"{number}.{round_}"
                    reply = mine.request(
                        "POST", "/session-data", {"key": key, "value": value},
                        headers={"X-CSRF-Token": token}, cookies=dict(owner.cookies))
                    with lock:
                        result.writes += 1
                        result.statuses[reply.status] += 1
                        if reply.status == 303:
                            acknowledged[which][key] = value
                    if reply.status != 303:
                        stats.fail(f"same session {owner.name}: a write answered "
                                   f"{reply.status} {_title(reply.body)}")
            except threading.BrokenBarrierError:
                stats.fail(f"same session {owner.name}: writer {number} left behind")
            finally:
                barriers[which].abort()
                mine.close()
        return run

    _run_threads([writer(n, s) for s in range(len(sessions)) for n in range(writers)],
                 stats, "same-session")
    for (owner, _), expected in zip(sessions, acknowledged, strict=True):
        # A write refused with a 5xx was reported above; a write that was
        # acknowledged and is not there is a lost update.
        stored = owner.request("GET", "/session-data").json() or {}
        missing = [k for k, v in expected.items() if stored.get(k) != v]
        if missing:
            result.keys_missing += len(missing)
            stats.fail(f"same session {owner.name}: {len(missing)} of {len(expected)} "
                       f"acknowledged keys lost, e.g. {missing[0]}", lost=len(missing))
        owner.close()
    return result


def logout_race_phase(stats: Stats, db: Database, servers: list[AppServer],
                      usernames: list[str], *, writers: int, rounds: int,
                      result: SameSessionResult) -> None:
    """For each user: ``writers`` threads keep writing to one signed-in session
    while another request signs it out. The logout wins, whatever the order:
    the cookie is dead on the next request, and the user has no session row."""
    ports = [server.port for server in servers]
    lock = threading.Lock()

    def race(username: str) -> Callable[[], None]:
        def run() -> None:
            owner, token = _signed_in_browser(stats, ports, username)
            cookie = owner.cookies[SESSION_COOKIE]
            written = threading.Event()
            count = [0]

            def writer(number: int) -> Callable[[], None]:
                mine = Browser(stats, ports[number % len(ports):] + ports[:number % len(ports)],
                               f"{username}-w{number}")

                def go() -> None:
                    try:
                        for round_ in range(rounds):
                            reply = mine.request(
                                "POST", "/session-data",
                                {"key": f"w{number}-{round_}", "value": "x"},
                                headers={"X-CSRF-Token": token}, cookies=dict(owner.cookies))
                            with lock:
                                result.logout_writes[reply.status] += 1
                                count[0] += 1
                                if count[0] >= writers:
                                    written.set()
                            # 303 before the logout; 400 after it (the CSRF token
                            # died with the session). Never anything else.
                            if reply.status not in (303, 400):
                                stats.fail(f"logout race {username}: a write answered "
                                           f"{reply.status} {_title(reply.body)}")
                    finally:
                        mine.close()
                return go

            signed_out = [False]

            def logout() -> None:
                written.wait(timeout=JOIN_TIMEOUT)
                reply = owner.request("POST", "/logout", {"csrf_token": token})
                signed_out[0] = reply.status == 303 and SESSION_COOKIE not in owner.cookies
                if not signed_out[0]:
                    stats.fail(f"logout race {username}: logout answered {reply.status}")

            _run_threads([writer(n) for n in range(writers)] + [logout], stats,
                         f"logout-race-{username}")
            if not signed_out[0]:
                # Refused (a 5xx, already counted): the browser knows it is still
                # signed in, so its session living on is no revival.
                owner.close()
                return
            if not check_signed_out(owner, cookie, f"logout race {username}"):
                with lock:
                    result.resurrected += 1
            rows = db.scalar("SELECT COUNT(*) FROM sessions s JOIN users u "
                             "ON s.user_id = u.id WHERE u.username = :name", name=username)
            if rows:
                stats.fail(f"logout race {username}: {rows} session row(s) of the user "
                           "outlived the logout", resurrected=rows)
                with lock:
                    result.resurrected += rows
            owner.close()
            with lock:
                result.logout_races += 1
        return run

    _run_threads([race(name) for name in usernames], stats, "logout-race")


# -- one database ---------------------------------------------------------------


class RssSampler(threading.Thread):
    """Each app process's resident memory every ``every`` seconds, to tell a
    warm-up (it levels off) from a leak (it keeps climbing)."""

    def __init__(self, servers: list[AppServer], every: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.servers, self.every = servers, every
        self.samples: dict[int, list[int]] = {server.pid: [] for server in servers}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            for server in self.servers:
                kib = server.rss_kib()
                if kib is not None:
                    self.samples[server.pid].append(kib)
            if self._stop_event.wait(self.every):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=STOP_TIMEOUT)


@dataclass
class Options:
    clients: int = 64
    seconds: float = 60.0
    threads: int = 8
    processes: int = 1
    writers: int = 8
    rounds: int = 5
    same_sessions: int = 4
    logout_races: int = 4
    max_requests: int = DEFAULT_MAX_REQUESTS
    app: dict[str, str] = field(default_factory=dict)
    serializable: bool = False
    seed: int = 0


@dataclass
class Report:
    database: str
    options: Options
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lost_values: int = 0
    resurrected: int = 0
    sign_ins: int = 0
    writes: int = 0
    dead_cookies_checked: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    rss_kib: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    same_session: dict[str, Any] = field(default_factory=dict)
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute, before and after
    rss_series: dict[int, list[int]] = field(default_factory=dict)  # pid -> KiB samples

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.failures or self.lost_values
                    or self.resurrected or self.transport_errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database, "clients": self.options.clients,
            "processes": self.options.processes, "threads": self.options.threads,
            "requests": self.requests, "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.rps, 1), "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2), "statuses": self.statuses,
            "server_errors": len(self.server_errors), "errors": len(self.failures),
            "transport_errors": len(self.transport_errors), "lost_values": self.lost_values,
            "resurrected": self.resurrected, "sign_ins": self.sign_ins, "writes": self.writes,
            "dead_cookies_checked": self.dead_cookies_checked, "retries": self.retries,
            "rss_kib": [{"pid": p, "start": s, "end": e} for p, s, e in self.rss_kib],
            "rss_series_kib": self.rss_series,
            "same_session": self.same_session, "load_average": self.load_average,
            "ok": self.ok, "first_failures": (self.server_errors + self.transport_errors
                                              + self.failures)[:50],
        }


def run_database(kind: str, options: Options, *, server_url: str | None = None,
                 workdir: Path | None = None) -> Report:
    """The whole run on one database: the mix, with the same-session and logout
    races started a third of the way in, then the final checks."""
    report = Report(database=kind, options=options)
    load_before = os.getloadavg()[0]
    stats = Stats(options.max_requests)
    tag = secrets.token_hex(3)
    mix_names = [f"load{tag}u{n:03d}" for n in range(options.clients)]
    same_names = [f"load{tag}s{n:02d}" for n in range(options.same_sessions)]
    race_names = [f"load{tag}r{n:02d}" for n in range(options.logout_races)]
    own_workdir = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sessapp-load-run-"))
    try:
        with Database(kind, server_url=server_url, serializable=options.serializable) as db:
            mix = MixRun(stats, [], mix_names, seed=options.seed)
            create_users(db, mix.precreated() + same_names + race_names)
            with app_servers(workdir, db.url, options.processes, threads=options.threads,
                             app=options.app) as servers:
                mix.servers = servers
                sampler = RssSampler(servers, every=max(1.0, options.seconds / 6))
                sampler.start()
                log(f"{kind}: {options.clients} browsers for {options.seconds:g}s on "
                    f"{len(servers)} pserve process(es) x {options.threads} threads")
                mix.start(options.seconds)
                same: SameSessionResult | None = None
                try:
                    mix.stop_event.wait(min(options.seconds / 3, 20))
                    if same_names:
                        log(f"{kind}: {len(same_names)} sessions x {options.writers} "
                            f"writers x {options.rounds} rounds, under the mix")
                        same = same_session_phase(stats, servers, same_names,
                                                  writers=options.writers,
                                                  rounds=options.rounds)
                    if race_names:
                        same = same or SameSessionResult(0, options.writers, options.rounds)
                        log(f"{kind}: {len(race_names)} logouts racing "
                            f"{options.writers} writers each")
                        logout_race_phase(stats, db, servers, race_names,
                                          writers=options.writers, rounds=options.rounds,
                                          result=same)
                except (Unexpected, TransportError, BudgetExhausted) as exc:
                    stats.fail(f"same-session phases stopped: {type(exc).__name__}: {exc}")
                finally:
                    mix.join()
                    sampler.stop()
                report.rss_series = sampler.samples
                mix.final_checks()
                for server in servers:
                    server.rss_end_kib = server.rss_kib()
                report.seconds = mix.ended - mix.started
                report.rss_kib = [(s.pid, s.rss_start_kib, s.rss_end_kib) for s in servers]
                report.retries = dict(transient_retries(servers))
                crashed = [s for s in servers if not s.alive()]
                for server in crashed:
                    stats.fail(f"pserve {server.pid} died:\n{server.log()[-2000:]}")
                if same is not None:
                    report.same_session = same.as_dict()
            report.sign_ins = sum(u.sign_ins for u in mix.users)
            report.writes = sum(u.writes for u in mix.users)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report.requests = stats.requests
    report.p50_ms = stats.percentile_ms(0.5)
    report.p99_ms = stats.percentile_ms(0.99)
    report.statuses = dict(sorted(stats.statuses.items()))
    report.server_errors = stats.server_errors
    report.transport_errors = stats.transport_errors
    report.failures = stats.failures
    report.lost_values = stats.lost_values
    report.resurrected = stats.resurrected
    report.dead_cookies_checked = len(stats.dead_cookies)
    report.load_average = (load_before, os.getloadavg()[0])
    return report


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f}"


def print_report(reports: list[Report], out: Any = sys.stdout) -> None:
    header = (f"{'database':<11}{'browsers':>9}{'requests':>10}{'req/s':>8}{'p50 ms':>8}"
              f"{'p99 ms':>8}{'5xx':>5}{'errors':>7}{'lost':>6}{'revived':>8}  RSS MiB start->end")
    print(header, file=out)
    for r in reports:
        rss = ", ".join(f"pid {pid}: {_mib(s)}->{_mib(e)}" for pid, s, e in r.rss_kib)
        errors = len(r.failures) + len(r.transport_errors)
        print(f"{r.database:<11}{r.options.clients:>9}{r.requests:>10}{r.rps:>8.0f}"
              f"{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{len(r.server_errors):>5}{errors:>7}"
              f"{r.lost_values:>6}{r.resurrected:>8}  {rss}", file=out)
    for r in reports:
        same = r.same_session
        print(f"\n{r.database}: {r.seconds:.1f}s, {r.sign_ins} sign-ins, {r.writes} values "
              f"stored by the browsers, {r.dead_cookies_checked} signed-out cookies "
              f"re-checked; statuses {r.statuses}; load average {r.load_average[0]:.1f} "
              f"before, {r.load_average[1]:.1f} after", file=out)
        if same:
            print(f"{r.database}: same session: {same['sessions']} sessions x "
                  f"{same['writers']} writers x {same['rounds']} rounds = {same['writes']} "
                  f"writes {same['statuses']}, {same['keys_missing']} keys missing; "
                  f"{same['logout_races']} logouts raced by writes "
                  f"{same['logout_race_writes']}, {same['resurrected']} sessions revived",
                  file=out)
        for pid, series in r.rss_series.items():
            print(f"{r.database}: pid {pid} RSS MiB, sampled through the run: "
                  f"{' '.join(_mib(kib) for kib in series)}", file=out)
        print(f"{r.database}: transient database errors retried by the app: "
              f"{r.retries or 'none'}", file=out)
        for title, items in (("5xx answers", r.server_errors),
                             ("no answer", r.transport_errors),
                             ("failed checks", r.failures)):
            if items:
                print(f"{r.database}: {len(items)} {title}, first ones:", file=out)
                for item in items[:10]:
                    print(f"    {item}", file=out)
        print(f"{r.database}: {'OK' if r.ok else 'FAILED'}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql, mysql (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=64, help="simulated browsers")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mix")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads per process")
    parser.add_argument("--processes", type=int, default=1, help="pserve processes")
    parser.add_argument("--writers", type=int, default=8,
                        help="parallel requests per session in the same-session phase")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of those")
    parser.add_argument("--same-sessions", type=int, default=4,
                        help="sessions hammered at once")
    parser.add_argument("--logout-races", type=int, default=4,
                        help="sessions signed out while being written to")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help="hard cap on requests per database")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra app setting for the load INI (repeatable)")
    parser.add_argument("--serializable", action="store_true",
                        help="PostgreSQL: make every transaction SERIALIZABLE (ALTER DATABASE)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    app = dict(item.split("=", 1) for item in args.set)
    options = Options(clients=args.clients, seconds=args.seconds, threads=args.threads,
                      processes=args.processes, writers=args.writers, rounds=args.rounds,
                      same_sessions=args.same_sessions, logout_races=args.logout_races,
                      max_requests=args.max_requests, app=app,
                      serializable=args.serializable)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    unreachable = [f"{kind}: {problem}" for kind in kinds
                   if (problem := server_problem(kind)) is not None]
    if unreachable:
        for line in unreachable:
            print(f"bench.reliability: {line}", file=sys.stderr)
        return 2
    reports = [run_database(kind, options) for kind in kinds]
    print_report(reports)
    print(f"\nmachine: {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; python {sys.version.split()[0]}")
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
