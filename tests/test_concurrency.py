"""Real threads against a real waitress server, all sharing one session cookie.

WebTest runs one request at a time; these tests run many at once through the
whole stack (waitress threads, pyramid_retry, pyramid_tm, the session's
versioned write) and check the contract's promises under that load: concurrent
requests on one session lose no update, logging out is not undone by a save
that was in flight, and a request whose commit fails changes neither the
database nor the browser's cookie.

Every wait is bounded: client sockets time out, threads are joined with a
timeout, and the server is closed by the fixture whatever the test did.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zope.sqlalchemy.datamanager
from conftest import PASSWORD
from waitress.server import create_server

from sessapp.sessions.store import SessionStore
from sessapp.testing.client import CSRF_FIELD, cookies_set, encode, follow_set_cookies

SERVER_THREADS = 8
CLIENT_TIMEOUT = 60.0
JOIN_TIMEOUT = 120.0
SESSION_COOKIE = "session"
CSRF_COOKIE = "csrf_token"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def set_cookies(self) -> dict[str, str]:
        """Cookies this response sets, by name ("" for an expired one)."""
        return cookies_set(self.headers.get_all("Set-Cookie") or [])

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """One browser's worth of cookies, sent as they are on every request.

    Threads share a client's cookies read-only: a test that wants the jar to
    follow Set-Cookie calls :meth:`keep_cookies` itself, from one thread.
    """

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=CLIENT_TIMEOUT)
        all_headers, body = encode({"Connection": "close", **(headers or {})}, self.cookies,
                                   form=form)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers,
                         response.read().decode("utf-8", "replace"))
        finally:
            connection.close()

    def keep_cookies(self, reply: Reply) -> Reply:
        follow_set_cookies(self.cookies, reply.headers.get_all("Set-Cookie") or [])
        return reply

    def csrf_token(self, path: str = "/login") -> str:
        reply = self.keep_cookies(self.request("GET", path))
        assert reply.status == 200, (path, reply.status)
        match = CSRF_FIELD.search(reply.body)
        assert match is not None, f"no csrf_token field on {path}"
        return match.group(1)

    def store(self, key: str, value: str, token: str) -> Reply:
        return self.request("POST", "/session-data", {"key": key, "value": value},
                            headers={"X-CSRF-Token": token})

    def login(self, username: str, password: str = PASSWORD) -> Reply:
        token = self.csrf_token("/login")
        return self.keep_cookies(self.request(
            "POST", "/login",
            {"username": username, "password": password, "csrf_token": token}))


@pytest.fixture
def live_server(harness: Any) -> Iterator[Client]:
    """The harness's app under waitress with 8 threads, on a free loopback port."""
    server = create_server(harness.app, host="127.0.0.1", port=0, threads=SERVER_THREADS)
    thread = threading.Thread(target=server.run, name="waitress-loop", daemon=True)
    thread.start()
    try:
        yield Client(server.effective_port)
    finally:
        # Closed from inside its own loop: closing the listening socket from
        # this thread races the loop's select() (EBADF in the server thread).
        # A loop that has already ended closed its trigger: nothing to wake then.
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(server.close)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(timeout=10)
        assert not thread.is_alive(), "the waitress loop did not stop"


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Start every target at once, join them within JOIN_TIMEOUT, and re-raise
    the first error any of them hit (an assertion in a thread is otherwise lost)."""
    start = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrapped(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                start.wait(timeout=JOIN_TIMEOUT)
                target()
            except BaseException as exc:  # reported to the test below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrapped(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "client threads hung"
    if errors:
        raise errors[0]


def anonymous_session_with_one_value(client: Client) -> str:
    """Create a visitor's session holding {"seed": "0"}; returns the CSRF token
    (the client keeps the session and CSRF cookies)."""
    token = client.csrf_token("/login")
    reply = client.keep_cookies(client.store("seed", "0", token))
    assert reply.status == 303
    assert SESSION_COOKIE in client.cookies
    return token


# -- lost updates -------------------------------------------------------------


WRITERS = 8
ROUNDS = 5
# A client that is told 503 + Retry-After tries again; bounded so a livelock
# fails the test instead of hanging it. (It waits a few milliseconds, not the
# advertised seconds, to keep the test short.)
CLIENT_RETRIES = 30


@dataclass
class Outcome:
    """The final reply to one logical write and the busy replies before it."""

    final: Reply
    busy: list[Reply]


def store_politely(client: Client, key: str, value: str, token: str) -> Outcome:
    busy: list[Reply] = []
    for _ in range(CLIENT_RETRIES):
        reply = client.store(key, value, token)
        if reply.status != 503:
            return Outcome(reply, busy)
        busy.append(reply)
        time.sleep(random.uniform(0.001, 0.02))
    return Outcome(busy.pop(), busy)


def concurrent_writes(client: Client, token: str, *, retry_when_busy: bool) -> list[Outcome]:
    """WRITERS threads, each storing ROUNDS different keys on one session."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def writer(number: int) -> Callable[[], None]:
        def run() -> None:
            for round_ in range(ROUNDS):
                key, value = f"t{number}-r{round_}", f"{number}.{round_}"
                if retry_when_busy:
                    outcome = store_politely(client, key, value, token)
                else:
                    outcome = Outcome(client.store(key, value, token), [])
                with lock:
                    outcomes.append(outcome)
        return run

    run_threads([writer(n) for n in range(WRITERS)])
    assert len(outcomes) == WRITERS * ROUNDS
    return outcomes


def every_key() -> dict[str, str]:
    return {f"t{n}-r{r}": f"{n}.{r}" for n in range(WRITERS) for r in range(ROUNDS)}


def test_concurrent_writes_to_one_session_lose_no_update(harness, live_server, caplog):
    """Each losing write reruns on fresh state (pyramid_retry); one whose retries
    ran out is answered 503 + Retry-After, never 500, and was not applied, so a
    client that retries ends with every key stored."""
    token = anonymous_session_with_one_value(live_server)

    outcomes = concurrent_writes(live_server, token, retry_when_busy=True)

    assert [(o.final.status, o.final.body[:200]) for o in outcomes
            if o.final.status != 303] == []
    busy = [reply for outcome in outcomes for reply in outcome.busy]
    assert all(reply.headers.get("Retry-After") for reply in busy)
    # The session already existed: no response issued or expired its cookie.
    assert all(SESSION_COOKIE not in reply.set_cookies
               for outcome in outcomes for reply in [outcome.final, *outcome.busy])
    stored = live_server.request("GET", "/session-data").json()
    assert stored == {"seed": "0", **every_key()}
    assert harness.count("sessions") == 1
    # SQLite's "database is locked" must be waited out or retried, not shown.
    assert not [r for r in caplog.records if "database is locked" in r.getMessage()]


def test_concurrent_writes_to_one_session_all_succeed_first_time(harness, live_server):
    token = anonymous_session_with_one_value(live_server)

    outcomes = concurrent_writes(live_server, token, retry_when_busy=False)

    assert [o.final.status for o in outcomes if o.final.status != 303] == []
    assert live_server.request("GET", "/session-data").json() == {"seed": "0", **every_key()}


# -- logout racing with writes ------------------------------------------------


LOGOUT_WRITERS = 6
LOGOUT_ROUNDS = 6
LOGOUT_AFTER_WRITES = 4


def test_logout_during_concurrent_writes_is_not_undone(harness, live_server):
    uid = harness.make_user("carol")
    assert live_server.login("carol").status == 303
    token = live_server.csrf_token("/profile")
    assert harness.count("sessions", "user_id = :u", u=uid) == 1

    writer_replies: list[Reply] = []
    logout_replies: list[Reply] = []
    lock = threading.Lock()
    enough_written = threading.Event()

    def writer(number: int) -> Callable[[], None]:
        def run() -> None:
            for round_ in range(LOGOUT_ROUNDS):
                outcome = store_politely(live_server, f"w{number}-{round_}", "x", token)
                with lock:
                    writer_replies.append(outcome.final)
                    if len(writer_replies) >= LOGOUT_AFTER_WRITES:
                        enough_written.set()
        return run

    def logout() -> None:
        enough_written.wait(timeout=JOIN_TIMEOUT)
        reply = live_server.request("POST", "/logout", {"csrf_token": token})
        logout_replies.append(reply)

    run_threads([writer(n) for n in range(LOGOUT_WRITERS)] + [logout])

    assert [r.status for r in logout_replies] == [303]
    assert logout_replies[0].set_cookies.get(SESSION_COOKIE) == ""
    # A write either landed before the logout, or found the session gone and was
    # refused (its CSRF token died with the session): never a server error.
    assert {r.status for r in writer_replies} <= {303, 400}
    assert harness.count("sessions", "user_id = :u", u=uid) == 0
    # The old cookie is nobody's now, on the very next request.
    assert live_server.request("GET", "/api/me", headers={"Accept": "application/json"}
                               ).status == 401
    assert live_server.request("GET", "/session-data").json() == {}
    assert harness.count("sessions", "user_id = :u", u=uid) == 0


# -- a failed commit changes nothing --------------------------------------------


def _fail_with(message: str) -> Callable[..., None]:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(message)
    return fail


def test_failed_session_write_leaves_data_and_cookie_unchanged(harness, live_server,
                                                               monkeypatch):
    token = anonymous_session_with_one_value(live_server)
    before = harness.count("sessions", "data = :d", d='{"values":{"seed":"0"}}')
    assert before == 1

    monkeypatch.setattr(SessionStore, "update_data", _fail_with("disk on fire"))
    reply = live_server.store("lost", "1", token)
    monkeypatch.undo()

    assert reply.status == 500
    assert "Something went wrong" in reply.body
    assert "Traceback" not in reply.body and "disk on fire" not in reply.body
    assert reply.set_cookies == {}
    assert live_server.request("GET", "/session-data").json() == {"seed": "0"}
    # The same cookie still works for the next write.
    assert live_server.store("kept", "2", token).status == 303
    assert live_server.request("GET", "/session-data").json() == {"seed": "0", "kept": "2"}


def test_login_whose_commit_fails_sets_no_cookie_and_keeps_no_row(harness, live_server,
                                                                   monkeypatch):
    """The session row is written before the SQL commit; the SQL commit then
    fails. The cookie must follow the commit's outcome, not the write's."""
    uid = harness.make_user("dave")
    token = live_server.csrf_token("/login")

    monkeypatch.setattr(zope.sqlalchemy.datamanager.SessionDataManager, "tpc_vote",
                        _fail_with("commit refused"))
    reply = live_server.request("POST", "/login", {
        "username": "dave", "password": PASSWORD, "csrf_token": token})
    monkeypatch.undo()

    assert reply.status == 500
    assert "Something went wrong" in reply.body
    assert "Traceback" not in reply.body
    assert SESSION_COOKIE not in reply.set_cookies
    assert harness.count("sessions") == 0
    assert harness.count("sessions", "user_id = :u", u=uid) == 0
    # The sign-in's audit row was in the same transaction: gone with it.
    assert harness.count("auth_events", "event = 'login_success'") == 0
    # Nothing half-done blocks the next attempt.
    assert live_server.login("dave").status == 303
    assert live_server.request("GET", "/api/me", headers={"Accept": "application/json"}
                               ).json()["username"] == "dave"
