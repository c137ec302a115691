"""``sessapp.sessions`` in another Pyramid app (tests/hostapp): its own members
table and settings, and still one statement for a signed-in read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from hostapp import make_app
from hostapp.models import member_sessions, members, metadata
from sqlalchemy import create_engine, event, func, insert, select

from sessapp.sessions.clock import MovableClock
from sessapp.sessions.tokens import hash_token

COOKIE = "member_session"
IDLE = 600


def host_settings(url: str) -> dict[str, str]:
    return {
        "sqlalchemy.url": url,
        # The package's own keys ...
        "session.cookie_name": COOKIE,
        "session.idle_timeout": str(IDLE),
        "session.absolute_timeout": "3600",
        # ... and the host's, under session. and elsewhere: none is the package's business.
        "session.colour_scheme": "dark",
        "auth.provider": "members",
        "hostapp.greeting": "welcome",
    }


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    @property
    def writes(self) -> list[str]:
        return [s for s in self.seen if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", s, re.I)]


@pytest.fixture(scope="module")
def host_tables(db_url: str) -> Iterator[Any]:
    """The host's tables beside sessapp's in the test database, gone afterwards
    (so sessapp's ``alembic check`` still sees only its own)."""
    engine = create_engine(db_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(members).values(
            member_id=7, email="ada@example.org", display_name="Ada"))
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def host(host_tables: Any, db_url: str) -> Iterator[Any]:
    clock = MovableClock()
    app = make_app(host_settings(db_url), clock=clock)
    engine = app.registry["hostapp.engine"]
    statements = Statements()
    event.listen(engine, "before_cursor_execute", statements.record)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost",
                                                 "REMOTE_ADDR": "192.0.2.44"})
    client.clock = clock
    client.statements = statements
    yield client
    with host_tables.begin() as connection:
        connection.execute(member_sessions.delete())
    engine.dispose()


def sign_in(client: Any) -> str:
    client.post("/login", {"email": "ada@example.org"})
    return client.cookies[COOKIE]


def stored_sessions(engine: Any) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(member_sessions))


def test_a_member_signs_in_and_is_read_back_in_one_statement(host):
    token = sign_in(host)
    host.statements.seen.clear()
    assert host.get("/me").json == {"member_id": 7, "email": "ada@example.org",
                                    "greeting": "welcome"}
    assert len(host.statements.seen) == 1, host.statements.seen
    assert re.search(r"JOIN members", host.statements.seen[0])
    assert host.statements.writes == []
    # The row names the member, and only the hash of the token is stored.
    with host.app.registry["hostapp.engine"].connect() as connection:
        row = connection.execute(select(member_sessions)).one()
    assert (row.user_id, row.token_hash) == (7, hash_token(token))


def test_an_anonymous_visit_costs_no_statement_and_stores_nothing(host, host_tables):
    host.statements.seen.clear()
    assert host.get("/me").json is None
    assert host.statements.seen == []
    assert COOKIE not in host.cookies
    assert stored_sessions(host_tables) == 0


def test_logout_kills_the_old_cookie_server_side(host, host_tables):
    token = sign_in(host)
    host.post("/logout")
    assert COOKIE not in host.cookies
    assert stored_sessions(host_tables) == 0
    host.set_cookie(COOKIE, token)
    assert host.get("/me").json is None


def test_an_expired_session_gives_no_identity(host):
    sign_in(host)
    host.clock.advance(IDLE + 1)
    assert host.get("/me").json is None
    assert COOKIE not in host.cookies  # the stale cookie is cleared


def test_an_unknown_member_signs_nobody_in(host, host_tables):
    host.post("/login", {"email": "nobody@example.org"}, status=422)
    assert COOKIE not in host.cookies
    assert stored_sessions(host_tables) == 0
