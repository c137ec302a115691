"""Fixtures: one throwaway database per backend, the app on it, WebTest clients.

Every test that asks for ``testapp`` (or ``db_url``) runs once per backend:
SQLite always; PostgreSQL and MariaDB when their servers answer (defaults:
127.0.0.1:5432 and 127.0.0.1:3306; override with SESSAPP_TEST_POSTGRESQL_URL and
SESSAPP_TEST_MYSQL_URL, pointing at any existing database the user may connect
to). Each run creates its own uniquely named database and drops it afterwards.
Set SESSAPP_TEST_REQUIRE=postgresql,mysql (as CI does) to turn an unreachable
server into a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import transaction
import webtest
from pyramid.paster import get_appsettings
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine

from sessapp import make_app
from sessapp.accounts import email_addresses
from sessapp.accounts import passwords as passwords_module
from sessapp.accounts import users as accounts
from sessapp.clock import IClock, MovableClock
from sessapp.models import get_session_factory, get_tm_session
from sessapp.models.meta import Base
from sessapp.scripts.initdb import upgrade
from sessapp.security.acl import ADMIN_ROLE
from sessapp.testing.databases import SERVER_URLS, create_database, drop_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TESTING_INI = str(ROOT / "testing.ini")
PASSWORD = "correct horse battery staple"
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

REQUIRED = {name.strip() for name in os.environ.get("SESSAPP_TEST_REQUIRE", "").split(",")
            if name.strip()}
BACKENDS = ["sqlite", "postgresql", "mysql"]


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")
    parser.addoption(
        "--backends", default=",".join(BACKENDS),
        help="comma-separated databases to run on (default: all three)",
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc: Any) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b for b in metafunc.config.getoption("--backends").split(",") if b]
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:
            chosen = [b for b in chosen if b in only.args]
        metafunc.parametrize("backend", chosen, scope="session")


# -- databases --------------------------------------------------------------


def _server_unavailable(backend: str, exc: Exception) -> None:
    message = (
        f"{backend} server not reachable at {SERVER_URLS[backend]} "
        f"({type(exc).__name__}); set SESSAPP_TEST_{backend.upper()}_URL to test on it"
    )
    if backend in REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def db_url(backend: str, tmp_path_factory: Any) -> Iterator[str]:
    """A fresh, migrated database for this test session and backend."""
    name = f"sessapp_test_{secrets.token_hex(4)}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / (name + '.sqlite')}"
        upgrade(TESTING_INI, url)
        yield url
        return
    admin = create_engine(make_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT")
    try:
        url = create_database(admin, backend, name)
    except Exception as exc:  # any driver or connection failure means "not here"
        admin.dispose()
        _server_unavailable(backend, exc)
    try:
        upgrade(TESTING_INI, url)
        yield url
    finally:
        drop_database(admin, backend, name)
        admin.dispose()


def base_settings(url: str, **overrides: Any) -> dict[str, Any]:
    settings = dict(get_appsettings(TESTING_INI))
    settings["sqlalchemy.url"] = url
    settings.update({key: str(value) for key, value in overrides.items()})
    return settings


@dataclass
class SqlLog:
    """Every statement the app's engine sends, for counting queries and writes."""

    statements: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        with self.lock:
            self.statements.append(statement)

    def clear(self) -> None:
        with self.lock:
            self.statements.clear()

    @property
    def writes(self) -> list[str]:
        return [s for s in self.statements
                if re.match(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", s, re.I)]


@dataclass
class AppHarness:
    """One WSGI app on one database, with what tests need to look inside it."""

    app: Any
    url: str
    clock: MovableClock
    sql: SqlLog

    @property
    def registry(self) -> Any:
        return self.app.registry

    @property
    def engine(self) -> Engine:
        return self.registry["db_engine"]

    def transaction(self) -> Any:
        return _Tx(self)

    def count(self, table: str, where: str = "1=1", **params: Any) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE {where}"), params
            ).scalar_one()

    def wipe(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())

    def set_email(self, username: str, address: str, *, verified: bool = True) -> None:
        """Give ``username`` an address (verified, as sessapp-user set-email does)."""
        with self.transaction() as dbsession:
            user = accounts.find_user(dbsession, username)
            email_addresses.assign(dbsession, user, address,
                                   verified_at=self.clock.now() if verified else None)

    def outbox(self) -> list[Any]:
        """Every queued message, oldest first (recipient, subject, sent_at...)."""
        with self.engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT recipient, subject, sent_at, attempts, content, message_id "
                "FROM outbox_messages ORDER BY id")))

    def make_user(self, username: str = "alice", password: str = PASSWORD,
                  *, admin: bool = False) -> int:
        with self.transaction() as dbsession:
            user = accounts.create_user(
                dbsession, self.registry.password_hasher, self.registry.password_policy,
                username, password, self.clock.now(),
                roles=[ADMIN_ROLE] if admin else [],
            )
            return user.id


class _Tx:
    """``with harness.transaction() as dbsession:`` commits on success."""

    def __init__(self, harness: AppHarness) -> None:
        self.manager = transaction.TransactionManager(explicit=True)
        self.factory = get_session_factory(harness.engine)

    def __enter__(self) -> Any:
        self.manager.begin()
        return get_tm_session(self.factory, self.manager)

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.manager.commit()
        else:
            self.manager.abort()


def build_harness(url: str, **overrides: Any) -> AppHarness:
    app = make_app(base_settings(url, **overrides))
    clock = MovableClock()
    app.registry.registerUtility(clock, IClock)
    sql = SqlLog()
    event.listen(app.registry["db_engine"], "before_cursor_execute", sql.record)
    return AppHarness(app=app, url=url, clock=clock, sql=sql)


@pytest.fixture(scope="session")
def _shared_harness(db_url: str) -> Iterator[AppHarness]:
    harness = build_harness(db_url)
    yield harness
    harness.engine.dispose()


@pytest.fixture
def harness(_shared_harness: AppHarness) -> Iterator[AppHarness]:
    """The app on this backend's database, emptied after the test."""
    _shared_harness.clock.current = MovableClock().now()
    _shared_harness.sql.clear()
    yield _shared_harness
    _shared_harness.registry.mail_dispatcher.stop()
    _shared_harness.wipe()


@pytest.fixture
def make_harness(db_url: str) -> Iterator[Any]:
    """Build an app with other settings, on the same database (emptied after)."""
    built: list[AppHarness] = []

    def factory(**overrides: Any) -> AppHarness:
        made = build_harness(db_url, **overrides)
        built.append(made)
        return made

    yield factory
    for made in built:
        made.registry.mail_dispatcher.stop()
        made.wipe()
        made.engine.dispose()


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free loopback port, running."""
    from smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_harness(make_harness: Any, smtp_server: Any) -> AppHarness:
    """The app delivering mail by SMTP to ``smtp_server``."""
    return make_harness(**{"mail.delivery": "smtp", "mail.host": "127.0.0.1",
                           "mail.port": smtp_server.port,
                           "mail.sender": "sessapp <noreply@app.example>",
                           "sessapp.base_url": "https://app.example"})


# -- clients ------------------------------------------------------------------


class Browser(webtest.TestApp):
    """A WebTest client that behaves like one browser (its own cookie jar)."""

    session_cookie = "session"

    def csrf_token(self, path: str = "/login") -> str:
        page = self.get(path)
        field = page.html.find("input", {"name": "csrf_token"})
        assert field is not None, f"no csrf_token field on {path}"
        return field["value"]

    def login(self, username: str = "alice", password: str = PASSWORD, *,
              status: int | str = 303, **extra: str) -> Any:
        token = self.csrf_token("/login")
        return self.post("/login", {"username": username, "password": password,
                                    "csrf_token": token, **extra}, status=status)

    def logout(self) -> Any:
        return self.post("/logout", {"csrf_token": self.csrf_token("/profile")}, status=303)

    @property
    def session_token(self) -> str | None:
        return self.cookies.get(self.session_cookie)


def who_is_signed_in(browser: Browser) -> str | None:
    """The username /api/me reports for this browser, None when anonymous."""
    response = browser.get("/api/me", status="*")
    if response.status_int == 401:
        return None
    assert response.status_int == 200, response.status
    return response.json["username"]


def signed_in_as(browser: Browser) -> str | None:
    """Who /profile says is signed in, or None when it sends the browser to log in."""
    response = browser.get("/profile", status="*")
    if response.status_int == 303:
        assert "/login?next=" in response.location
        return None
    assert response.status_int == 200, response.status
    return response.html.find("h1").get_text(strip=True)


def new_browser(harness: AppHarness, ip: str = "192.0.2.10") -> Browser:
    return Browser(harness.app, extra_environ={
        "REMOTE_ADDR": ip,
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": FIREFOX_ON_LINUX,
    })


@pytest.fixture
def testapp(harness: AppHarness) -> Browser:
    return new_browser(harness)


@pytest.fixture
def browser_factory(harness: AppHarness) -> Any:
    return lambda ip="192.0.2.10": new_browser(harness, ip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Keep each phase's report on the test item (browser tests screenshot failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- bcrypt's work ---------------------------------------------------------------


def bcrypt_cost(hashed: str) -> int:
    """The cost factor of a bcrypt hash ("$2b$12$..." -> 12)."""
    return int(hashed.split("$")[2])


@dataclass
class BcryptCalls:
    """bcrypt computations that ran to completion, with the hashes checked against."""

    checked_against: list[bytes] = field(default_factory=list)
    hashed: int = 0

    @property
    def checked(self) -> int:
        return len(self.checked_against)

    def reset(self) -> None:
        self.checked_against.clear()
        self.hashed = 0


@pytest.fixture
def bcrypt_calls(monkeypatch: Any) -> BcryptCalls:
    """Counts bcrypt's work, on the module the hasher uses. A call that raises
    before hashing (a malformed stored hash) did no work and is not counted.
    Call ``reset()`` right before what is measured: the app builds its dummy
    hash at start-up, pages fetch tokens, etc."""
    calls = BcryptCalls()
    real_checkpw, real_hashpw = bcrypt.checkpw, bcrypt.hashpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        result = real_checkpw(password, hashed)
        calls.checked_against.append(hashed)
        return result

    def hashpw(password: bytes, salt: bytes) -> bytes:
        result = real_hashpw(password, salt)
        calls.hashed += 1
        return result

    monkeypatch.setattr(passwords_module.bcrypt, "checkpw", checkpw)
    monkeypatch.setattr(passwords_module.bcrypt, "hashpw", hashpw)
    return calls
