"""SQLite's stand-in for a row lock: requests that may write one session take turns.

tests/test_concurrency.py shows the effect through waitress (writers of one
session all succeed first time), but only when the race happens to be lost;
these check the guard itself, one request held open while another arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pyramid.interfaces import IRequestFactory
from pyramid.scripting import prepare

from sessapp.sessions.factory import SessionTurns

WAIT = 0.3  # long enough for an unguarded load to have finished
DONE = 10.0


@contextmanager
def loaded_session(harness: Any, method: str, token: str | None) -> Iterator[Any]:
    """A request of the app that has loaded its session, ended (transaction
    rolled back, finished callbacks run) on leaving."""
    request_class = harness.registry.getUtility(IRequestFactory)
    request = request_class.blank("/session-data", method=method)
    if token is not None:
        request.cookies["session"] = token
    env = prepare(request=request, registry=harness.registry)
    request.tm.begin()
    try:
        yield request.session
    finally:
        request.tm.abort()
        env["closer"]()


def load_in_thread(harness: Any, method: str, token: str | None) -> tuple[threading.Event,
                                                                         threading.Thread]:
    loaded = threading.Event()

    def run() -> None:
        with loaded_session(harness, method, token):
            loaded.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return loaded, thread


def signed_in_token(harness: Any, testapp: Any, username: str) -> str:
    harness.make_user(username)
    testapp.login(username)
    return testapp.session_token


@pytest.mark.backends("sqlite")
def test_a_second_writer_of_a_session_waits_for_the_first_to_end(harness, testapp):
    token = signed_in_token(harness, testapp, "alice")
    with loaded_session(harness, "POST", token) as session:
        assert session.user_id is not None
        loaded, thread = load_in_thread(harness, "POST", token)
        assert not loaded.wait(WAIT), "the second writer did not wait for its turn"
    assert loaded.wait(DONE)
    thread.join(DONE)


@pytest.mark.backends("sqlite")
def test_readers_and_writers_of_other_sessions_do_not_wait(harness, testapp, browser_factory):
    token = signed_in_token(harness, testapp, "alice")
    other = browser_factory()
    harness.make_user("bob")
    other.login("bob")
    with loaded_session(harness, "POST", token):
        for method, cookie in (("GET", token), ("POST", other.session_token)):
            loaded, thread = load_in_thread(harness, method, cookie)
            assert loaded.wait(DONE), method
            thread.join(DONE)


def test_turns_are_per_key_and_forgotten_once_ended():
    turns = SessionTurns()
    end_first = turns.take("a")
    end_other = turns.take("b", timeout=0.01)  # another key: no wait
    second: list[Any] = []
    waiter = threading.Thread(target=lambda: second.append(turns.take("a")), daemon=True)
    waiter.start()
    waiter.join(WAIT)
    assert waiter.is_alive(), "a second turn on the same key did not wait"
    end_first()
    waiter.join(DONE)
    second[0]()
    end_other()
    assert turns._locks == {}


def test_a_turn_not_given_in_time_goes_on_without_it():
    turns = SessionTurns()
    end_first = turns.take("a")
    end_late = turns.take("a", timeout=0.05)  # returns instead of hanging
    end_late()  # releases nothing it does not hold
    end_first()
    assert turns.take("a", timeout=0.05) is not None
