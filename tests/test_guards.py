"""Each security and concurrency guard on its own, on every database.

A flow test (sign in, change the password, the old cookie is dead) passes even
with a guard deleted when some other step does the guard's work: the password
change deletes the rows, so the epoch check is never the one that denies. Here
every other condition is kept true, so that each test fails when, and only
when, its one guard is gone (as Pyramid's own suite tests each policy method
alone):

- the session write's version check (``store.update_data``), directly and
  through a GET page that pops a flash message, whose read of the session takes
  no row lock, so the version check is the only thing between it and a
  concurrent write;
- the session policy's sessions-epoch and disabled-user checks, with the
  session's row still present;
- the same two checks in the bearer-token policy, with the token still live.

Everything goes through HTTP, the store's public functions and the database's
own rows, never through private helpers.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from conftest import PASSWORD, Browser, new_browser, who_is_signed_in
from sqlalchemy import event, text

from sessapp.models import User
from sessapp.models import session_store as store
from sessapp.sessions.errors import SessionConflict
from sessapp.sessions.tokens import hash_token

FLASH = "Signed out 0 other sessions."
SESSION_UPDATE = re.compile(r"\s*UPDATE\s+\W?sessions\W?\s+SET\b.*\bversion\b", re.I | re.S)


@pytest.fixture
def alice(harness: Any) -> int:
    # Whole seconds: every database stores them exactly, so "one second before
    # the epoch" and "at the epoch" mean the same thing on all three.
    harness.clock.current = harness.clock.current.replace(microsecond=0)
    return harness.make_user("alice")


@pytest.fixture
def signed_in(harness: Any, alice: int) -> Browser:
    browser = new_browser(harness)
    browser.login()
    assert who_is_signed_in(browser) == "alice"
    return browser


def session_row(harness: Any, browser: Browser) -> dict[str, Any] | None:
    with harness.engine.connect() as connection:
        row = connection.execute(
            text("SELECT data, version, user_id FROM sessions WHERE token_hash = :h"),
            {"h": hash_token(browser.session_token)},
        ).mappings().first()
    return None if row is None else dict(row)


def change_user(harness: Any, user_id: int, **values: Any) -> None:
    with harness.transaction() as dbsession:
        user = dbsession.get(User, user_id)
        for name, value in values.items():
            setattr(user, name, value)


# -- the versioned session write -------------------------------------------------


def test_a_write_from_a_stale_version_conflicts_and_changes_nothing(harness, signed_in):
    before = session_row(harness, signed_in)
    now = harness.clock.now()
    with pytest.raises(SessionConflict), harness.transaction() as dbsession:
        store.update_data(
            dbsession, hash_token(signed_in.session_token), before["version"] - 1,
            data='{"lost": "update"}', last_seen_at=now, expires_at=now + timedelta(hours=1),
            ip=None,
        )
    assert session_row(harness, signed_in) == before
    assert who_is_signed_in(signed_in) == "alice"


def test_a_write_from_the_current_version_lands_and_moves_the_version_on(harness, signed_in):
    before = session_row(harness, signed_in)
    now = harness.clock.now()
    with harness.transaction() as dbsession:
        store.update_data(
            dbsession, hash_token(signed_in.session_token), before["version"],
            data='{"kept": "update"}', last_seen_at=now, expires_at=now + timedelta(hours=1),
            ip=None,
        )
    after = session_row(harness, signed_in)
    assert after["data"] == '{"kept": "update"}'
    assert after["version"] == before["version"] + 1


class WriteUnderneath:
    """When the request on this thread is about to write the session row, another
    request (on its own thread, as another worker would) writes the same session
    first and commits: the write it is about to make then comes from a stale read.
    Happens once; records each session write this thread sends."""

    def __init__(self, harness: Any, other_request: Any) -> None:
        self.engine = harness.engine
        self.other_request = other_request
        self.thread = threading.get_ident()
        self.writes = 0
        self.other_response: Any = None
        self.other_error: BaseException | None = None

    def __enter__(self) -> WriteUnderneath:
        event.listen(self.engine, "before_cursor_execute", self.before_execute)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self.before_execute)

    def before_execute(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if threading.get_ident() != self.thread or not SESSION_UPDATE.match(statement):
            return
        self.writes += 1
        if self.writes == 1:
            worker = threading.Thread(target=self.run_other)
            worker.start()
            worker.join(30)
            assert not worker.is_alive(), "the concurrent request never finished"

    def run_other(self) -> None:
        try:
            self.other_response = self.other_request()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.other_error = exc


def test_a_get_page_popping_a_flash_loses_no_concurrent_write(harness, signed_in):
    """GET pages read the session without a row lock and pop the flash message,
    which writes the session: the version check alone keeps that write from
    overwriting what another request committed meanwhile. The GET's write must
    conflict, pyramid_retry must rerun it on fresh state, and the end state
    must hold both changes: the flash shown once and gone, the value stored."""
    csrf = signed_in.csrf_token("/sessions")
    signed_in.post("/sessions/revoke-others",
                   {"current_password": PASSWORD, "csrf_token": csrf}, status=303)
    other_tab = new_browser(harness)
    other_tab.set_cookie("session", signed_in.session_token)

    def store_a_value() -> Any:
        return other_tab.post_json("/session-data", {"key": "colour", "value": "teal"},
                                   headers={"X-CSRF-Token": csrf}, status=200)

    with WriteUnderneath(harness, store_a_value) as race:
        page = signed_in.get("/profile", status=200)

    assert race.other_error is None, race.other_error
    assert race.other_response.json == {"stored": "colour"}
    # The first write lost the race and was refused; the rerun wrote once more.
    assert race.writes == 2
    assert FLASH in page.text
    assert signed_in.get("/session-data").json == {"colour": "teal"}
    assert FLASH not in signed_in.get("/profile").text
    assert who_is_signed_in(signed_in) == "alice"


# -- the session policy ------------------------------------------------------------


def test_a_session_from_before_the_sessions_epoch_is_no_identity(harness, alice, signed_in):
    change_user(harness, alice, sessions_epoch=harness.clock.now() + timedelta(seconds=1))
    assert who_is_signed_in(signed_in) is None
    # The row is still there: the epoch check, not a missing row, said no.
    assert session_row(harness, signed_in)["user_id"] == alice


def test_a_session_from_the_epochs_very_moment_still_counts(harness, alice, signed_in):
    change_user(harness, alice, sessions_epoch=harness.clock.now())
    assert who_is_signed_in(signed_in) == "alice"


def test_a_disabled_users_session_is_no_identity_while_its_row_stays(harness, alice, signed_in):
    change_user(harness, alice, disabled=True)
    assert who_is_signed_in(signed_in) is None
    assert session_row(harness, signed_in)["user_id"] == alice
    # Nothing else was in the way: enabled again, the same cookie signs in.
    change_user(harness, alice, disabled=False)
    assert who_is_signed_in(signed_in) == "alice"


# -- the bearer policy ---------------------------------------------------------------


@pytest.fixture
def script(harness: Any, signed_in: Browser) -> Browser:
    """A client holding a live API token of alice's, and no cookie."""
    response = signed_in.post_json(
        "/api/tokens", {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
        headers={"X-CSRF-Token": signed_in.csrf_token("/sessions")}, status=201,
    )
    client = new_browser(harness)
    client.authorization = ("Bearer", response.json["token"])
    assert who_is_signed_in(client) == "alice"
    return client


def live_tokens(harness: Any) -> int:
    return harness.count("api_tokens", "revoked_at IS NULL")


def test_a_token_from_before_the_sessions_epoch_is_no_identity(harness, alice, script):
    change_user(harness, alice, sessions_epoch=harness.clock.now() + timedelta(seconds=1))
    assert who_is_signed_in(script) is None
    assert live_tokens(harness) == 1


def test_a_token_from_the_epochs_very_moment_still_counts(harness, alice, script):
    change_user(harness, alice, sessions_epoch=harness.clock.now())
    assert who_is_signed_in(script) == "alice"


def test_a_disabled_users_token_is_no_identity_while_it_stays_live(harness, alice, script):
    change_user(harness, alice, disabled=True)
    assert who_is_signed_in(script) is None
    assert live_tokens(harness) == 1
    change_user(harness, alice, disabled=False)
    assert who_is_signed_in(script) == "alice"
